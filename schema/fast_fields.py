"""Cheaper plain fields: a direct call instead of strawberry's per-field wrapper, and for
plain fields no per-field machinery of graphql-core either.

strawberry wraps every resolver (`def name(self) -> str: return self.row.name`) in a chain
built for the general case: an Info object, argument conversion, field extensions folded
with `reduce`, `await_maybe` for async ones. On a list of 100 objects x 5 fields that chain
is most of the CPU of a request. A field with no arguments, no field extensions
(permissions are extensions) and no exception handlers needs none of it: `fast_fields`
gives such fields a resolver that calls the method directly (with an Info only if it asks
for one).

graphql-core then spends as much again per field: an info object, argument parsing, then
value completion through a chain of type checks. A plain field whose value can be read
without an Info (an attribute, a method without Info, or a `plain_getter`) is marked
`PLAIN` with that getter, and `PlainFieldExecutor` answers it directly: a scalar or enum
through the type's output coercion, an object type by executing its sub-selection.
Anything unusual (a null for a non-null field, an error, a value the type refuses, an
awaitable, schema extensions that wrap resolvers) goes through graphql-core's own path,
which reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from graphql import (
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.executor import gather_with_cancel
from graphql.pyutils import Path
from strawberry.execution.is_awaitable import optimized_is_awaitable as _awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

_BACKREF = "strawberry-definition"
PLAIN = "contactplan-plain"  # field extension: (getter, leaf coercion or None, nullable)

Getter = Callable[[Any], Any]
F = TypeVar("F", bound=Callable[..., Any])
DECLINE = object()  # a plain getter's answer: leave this field to its resolver


def plain_getter(getter: Getter) -> Callable[[F], F]:
    """Give a resolver that takes an Info (or is async) a getter of its source that answers
    without one, or returns DECLINE where the resolver must decide: e.g. `lastCount` of a
    segment from a list that does not ask `count`, `author` that the list loaded."""

    def mark(resolver: F) -> F:
        resolver._plain_getter = getter  # type: ignore[attr-defined]
        return resolver

    return mark


def _direct(
    field: StrawberryField, info_class: type, default_resolver: Callable[[Any, str], Any]
) -> tuple[Callable[..., Any], Getter | None] | None:
    """A direct resolver for `field` and, when one exists, a getter of the source that needs
    no Info; None if the field needs strawberry's general path."""
    resolver = field.base_resolver
    if field.arguments or field.extensions:
        return None
    if resolver is None:
        name = field.python_name

        def getter(source: Any) -> Any:
            return default_resolver(source, name)

        def attribute(source: Any, info: Any) -> Any:
            return default_resolver(source, name)

        attribute._is_default = True  # type: ignore[attr-defined]  # as strawberry marks it
        return attribute, getter
    if resolver.parent_parameter or resolver.root_parameter or not resolver.self_parameter:
        return None
    function = resolver.wrapped_func
    marked = getattr(function, "_plain_getter", None)
    info_parameter = resolver.info_parameter
    if info_parameter is None:

        def method(source: Any, info: Any) -> Any:
            return function(source)

        return method, marked or (None if resolver.is_async else function)
    info_name = info_parameter.name

    def method_with_info(source: Any, info: Any) -> Any:
        return function(source, **{info_name: info_class(_raw_info=info, _field=field)})

    return method_with_info, marked


def fast_fields(schema: strawberry.Schema) -> int:
    """Give every eligible object field of `schema` a direct resolver, and mark plain fields
    for `PlainFieldExecutor`; how many fields were changed."""
    if schema.schema_converter._exception_handler_specs:  # handlers may apply to any field
        return 0
    info_class, default_resolver = schema.config.info_class, schema.config.default_resolver
    changed = 0
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for graphql_field in graphql_type.fields.values():
            field = graphql_field.extensions.get(_BACKREF)
            if not isinstance(field, StrawberryField) or field.is_subscription:
                continue
            direct = _direct(field, info_class, default_resolver)
            if direct is None:
                continue
            graphql_field.resolve, getter = direct
            changed += 1
            nullable = not isinstance(graphql_field.type, GraphQLNonNull)
            named = graphql_field.type if nullable else graphql_field.type.of_type
            if getter is None or not (is_leaf_type(named) or is_object_type(named)):
                continue
            coerce = named.coerce_output_value if is_leaf_type(named) else None  # type: ignore[union-attr]
            graphql_field.extensions = {
                **graphql_field.extensions,
                PLAIN: (getter, coerce, nullable),
            }
    schema.execution_context_class = PlainFieldExecutor
    return changed


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, answering fields marked `PLAIN` without graphql-core's
    per-field machinery when no schema extension wraps resolvers: a plain scalar costs a
    getter call and a coercion inside the loop over an object's fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._plain = manager is None or manager._middleware_resolvers is None

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """graphql-core's loop over an object's fields, with plain scalars answered inline
        (no Path, no call of execute_field)."""
        if not self._plain:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        fields = parent_type.fields
        try:
            for response_name, field_details_list in grouped_field_set.items():
                field_def = fields.get(field_details_list[0].node.name.value)
                plain = field_def.extensions.get(PLAIN) if field_def is not None else None
                if plain is not None and plain[1] is not None:
                    value = _scalar(plain, source_value)
                    if value is not DECLINE:
                        results[response_name] = value
                        continue
                field_path = Path(path, response_name, parent_type.name)
                result = self.execute_field(
                    parent_type, source_value, field_details_list, field_path, position_context
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # settle the other fields' awaitables, as graphql-core does
                self.settle_in_background([results[f] for f in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        field_def = parent_type.fields.get(field_details_list[0].node.name.value)
        plain = field_def.extensions.get(PLAIN) if field_def is not None else None
        if plain is not None and self._plain:
            if plain[1] is not None:  # a scalar: execute_fields_serially (mutation roots)
                answer = _scalar(plain, source)
            else:
                field = (field_def, parent_type, field_details_list, path, position_context)
                answer = self._plain_object(plain, source, *field)
            if answer is not DECLINE:
                return answer
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _plain_object(
        self,
        plain: tuple[Getter, None, bool],
        source: Any,
        field_def: Any,
        parent_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        """A plain object field completed as graphql-core's execute_field completes it (its
        errors handled the same way), or DECLINE for graphql-core's path."""
        getter, _, nullable = plain
        try:
            value = getter(source)
        except Exception:  # plain getters have no side effects: asked again
            return DECLINE
        if value is None:
            return None if nullable else DECLINE
        if value is DECLINE or value is Undefined or isinstance(value, Exception):
            return DECLINE
        return_type = field_def.type
        try:
            if self.is_awaitable(value):
                info = self.build_resolve_info(
                    field_def, [d.node for d in field_details_list], parent_type, path
                )
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, path, value, position_context
                )
            object_type = getattr(return_type, "of_type", return_type)
            if object_type.is_type_of:
                info = self.build_resolve_info(
                    field_def, [d.node for d in field_details_list], parent_type, path
                )
                completed = self.complete_object_value(
                    object_type, field_details_list, info, path, value, position_context
                )
            else:
                completed = self.collect_and_execute_subfields(
                    object_type, field_details_list, path, value, position_context
                )
            if self.is_awaitable(completed):

                async def await_completed() -> Any:
                    try:
                        return await completed
                    except Exception as raw_error:
                        self.handle_field_error(raw_error, return_type, field_details_list, path)
                        return None

                return await_completed()
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed


def _scalar(plain: tuple[Getter, Callable[[Any], Any], bool], source: Any) -> Any:
    """A plain scalar field's output value, or DECLINE for graphql-core's path: a null for a
    non-null field, an error, a refused value, an awaitable (the getter is asked again
    there; plain getters have no side effects and return awaitables only by mistake)."""
    getter, coerce, nullable = plain
    try:
        value = getter(source)
        if value is None:
            return None if nullable else DECLINE
        if value is DECLINE or isinstance(value, Exception) or _awaitable(value):
            return DECLINE
        coerced = coerce(value)
    except Exception:
        return DECLINE
    return DECLINE if coerced is None or coerced is Undefined else coerced
