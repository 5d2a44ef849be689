"""Query cost: an estimate of the work a document asks for, refused before execution.

Each field costs 1 plus what it selects. A field with a paging argument (`first`, `last`,
`limit`) multiplies what it selects by that argument's value (a literal or a variable), or
by the default page size (`resolvers.paging.DEFAULT_PAGE`) when it is not given; the
`edges` list of such a connection does not multiply again. Any other list of objects
multiplies what it selects by PLAIN_LIST_SIZE. Introspection fields (`__schema`,
`__type`, `__typename`) are free: the INTROSPECTION setting governs them.

The check runs after validation (so it only sees valid documents) and needs the
variables, which graphql-core validation rules do not get; it is therefore a schema
extension, not a rule cached by `ValidationCache`. Over MAX_QUERY_COST the request gets
one error `Query cost N exceeds the limit of M.` with extensions.code QUERY_TOO_COSTLY. A
document with several operations and no operationName cannot be priced and is refused
as the GraphQL spec requires (strawberry alone would run the first operation).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)
from graphql.type.definition import GraphQLInterfaceType, GraphQLUnionType
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from resolvers.paging import DEFAULT_PAGE

PAGING_ARGUMENTS = ("first", "last", "limit")
PLAIN_LIST_SIZE = 10  # assumed length of a list that has no paging argument
COST_ERROR_CODE = "QUERY_TOO_COSTLY"


class _Walker:
    """Computes the cost of one operation (fragments expanded, directives ignored)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selection_cost(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, paged: bool
    ) -> int:
        """Cost of a selection set on `parent`; `paged`: parent is a paged connection."""
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent, paged)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_cost(selection.selection_set, on or parent, paged)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    on = self.schema.get_type(fragment.type_condition.name.value)
                    total += self.selection_cost(fragment.selection_set, on or parent, paged)
        return total

    def field_cost(self, node: FieldNode, parent: GraphQLNamedType, paged: bool) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        field = _field_of(parent, name)
        if field is None:  # unknown field on an abstract type: validation reports it
            return 1
        multiplier, paging = self.multiplier(node, field, paged)
        children = self.selection_cost(node.selection_set, get_named_type(field.type), paging)
        return 1 + multiplier * children

    def multiplier(self, node: FieldNode, field: GraphQLField, paged: bool) -> tuple[int, bool]:
        """(how many times the children count, whether this field pages a connection)."""
        is_list = isinstance(get_nullable_type(field.type), GraphQLList)
        if any(name in field.args for name in PAGING_ARGUMENTS):
            return self.paging_value(node), not is_list  # a connection: its edges are the page
        if is_list:
            return (1 if paged else PLAIN_LIST_SIZE), False
        return 1, False

    def paging_value(self, node: FieldNode) -> int:
        """The page size asked for by `first`/`last`/`limit`, else the default page."""
        for argument in node.arguments or ():
            if argument.name.value not in PAGING_ARGUMENTS:
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 0)
        return DEFAULT_PAGE


def _field_of(parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(name)
    if isinstance(parent, GraphQLUnionType):
        for member in parent.types:
            if name in member.fields:
                return member.fields[name]
    return None


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The estimated cost of one operation of a valid document."""
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return _Walker(schema, fragments, variables or {}).selection_cost(
        operation.selection_set, root, False
    )


def cost_error(cost: int, limit: int) -> GraphQLError:
    """The error a too costly request gets."""
    return GraphQLError(
        f"Query cost {cost} exceeds the limit of {limit}. Ask for smaller pages "
        "(`first`) or fewer nested lists.",
        extensions={"code": COST_ERROR_CODE, "cost": cost, "maxCost": limit},
    )


class QueryCostLimiter(SchemaExtension):
    """Refuses an operation whose estimated cost is over `max_cost`, before execution.

    List it after ValidationCache: it reuses the validation result and only prices
    documents that are valid.
    """

    def __init__(self, max_cost: int) -> None:
        super().__init__()
        self.max_cost = max_cost

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors is None:
            context.pre_execution_errors = validate_document(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
        if not context.pre_execution_errors:
            context.pre_execution_errors = self.errors()
        yield

    def errors(self) -> list[GraphQLError]:
        """The error refusing this request, if any."""
        document = self.execution_context.graphql_document
        # `operation_name` falls back to the first operation's name: ask what was sent
        provided = getattr(self.execution_context, "_provided_operation_name", None)
        if provided is None and document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:  # graphql-core's rule; strawberry would run the first one
                return [
                    GraphQLError(
                        "Must provide operation name if query contains multiple operations.",
                        extensions={"code": "BAD_REQUEST"},
                    )
                ]
        cost = self.cost()
        return [cost_error(cost, self.max_cost)] if cost > self.max_cost else []

    def cost(self) -> int:
        """The cost of the operation this request executes."""
        context = self.execution_context
        document = context.graphql_document
        if document is None:
            return 0
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        name = context.operation_name
        chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
        return max(
            (query_cost(context.schema._schema, o, fragments, context.variables) for o in chosen),
            default=0,
        )
