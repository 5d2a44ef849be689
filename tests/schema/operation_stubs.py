"""Requests for any root field, generated from the schema: argument values made from the
argument types, so generic tests (permission matrix, attacks) cover every field a domain
module adds without a hand-written sample.

    document, variables = stub_request(schema, "Mutation", "deleteSegment", StubValues())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    get_named_type,
)
from strawberry.relay import GlobalID

# A well-formed global id of no object: NOT_FOUND wherever an id is looked up (a plain
# integer would fail GlobalID parsing before any permission check).
MISSING_ID = str(GlobalID(type_name="Missing", node_id="999999999"))

SCALARS: dict[str, Any] = {
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "DateTime": "2026-01-01T00:00:00+00:00",
    "Date": "2026-01-01",
    "Time": "00:00:00",
    "Decimal": "1",
    "JSON": {},
}
MAX_INPUT_DEPTH = 6


@dataclass
class StubValues:
    """How stub values are chosen.

    `ids(position)` gives an ID for an argument or input field path such as
    "input.databaseId"; `text` fills String positions; `optional` names the scalars
    ("ID", "String") whose optional arguments and input fields are filled too.
    """

    ids: Callable[[str], Any] = field(default=lambda position: MISSING_ID)
    text: str = "x"
    optional: frozenset[str] = frozenset()


def _is_required(type_: Any, default: Any) -> bool:
    return isinstance(type_, GraphQLNonNull) and default is Undefined


def _fills_optional(type_: GraphQLInputType, stubs: StubValues) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLScalarType) and named.name in stubs.optional


def stub_value(type_: GraphQLInputType, position: str, stubs: StubValues, depth: int = 0) -> Any:
    """A JSON value of `type_` for variables (None when nothing sensible can be made)."""
    if isinstance(type_, GraphQLNonNull):
        return stub_value(type_.of_type, position, stubs, depth)
    if isinstance(type_, GraphQLList):
        item = stub_value(type_.of_type, position, stubs, depth + 1)
        return [] if item is None else [item]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLScalarType):
        if type_.name == "ID":
            return stubs.ids(position)
        return SCALARS.get(type_.name, stubs.text)
    if isinstance(type_, GraphQLInputObjectType):
        if depth >= MAX_INPUT_DEPTH:
            return None
        if getattr(type_, "is_one_of", False):
            for name, input_field in type_.fields.items():
                value = stub_value(input_field.type, f"{position}.{name}", stubs, depth + 1)
                if value is not None:
                    return {name: value}
            return None
        value = {}
        for name, input_field in type_.fields.items():
            required = _is_required(input_field.type, input_field.default_value)
            if required or _fills_optional(input_field.type, stubs):
                value[name] = stub_value(input_field.type, f"{position}.{name}", stubs, depth + 1)
        return value
    return None


def selection(type_: Any, depth: int = 0) -> str:
    """A selection for an output type: every argument-free leaf, objects `depth` deep."""
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
        return ""
    if depth <= 0 or isinstance(named, GraphQLUnionType):
        return "{ __typename }"
    parts = ["__typename"]
    for name, child in named.fields.items():
        if any(_is_required(a.type, a.default_value) for a in child.args.values()):
            continue
        inner = selection(child.type, depth - 1)
        if isinstance(get_named_type(child.type), GraphQLScalarType | GraphQLEnumType):
            parts.append(name)
        elif inner:
            parts.append(f"{name} {inner}")
    return "{ " + " ".join(parts) + " }"


def root_field(schema: GraphQLSchema, root: str, name: str) -> GraphQLField:
    """The field `name` of the root type `root` (Query, Mutation, Subscription)."""
    root_type = schema.get_type(root)
    assert isinstance(root_type, GraphQLObjectType), root
    return root_type.fields[name]


def stub_request(
    schema: GraphQLSchema, root: str, name: str, stubs: StubValues, depth: int = 0
) -> tuple[str, dict[str, Any]]:
    """A document calling `root.name` with stub arguments as variables, and the variables."""
    graphql_field = root_field(schema, root, name)
    declarations, arguments, variables = [], [], {}
    for arg_name, arg in graphql_field.args.items():
        required = _is_required(arg.type, arg.default_value)
        fill = _fills_optional(arg.type, stubs) or isinstance(
            get_named_type(arg.type), GraphQLInputObjectType
        )
        if not required and not (stubs.optional and fill):
            continue
        value = stub_value(arg.type, arg_name, stubs)
        if value is None and required:
            raise ValueError(f"cannot make a value for {root}.{name}({arg_name})")
        variable = f"v_{arg_name}"
        declarations.append(f"${variable}: {arg.type}")
        arguments.append(f"{arg_name}: ${variable}")
        variables[variable] = value
    operation = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}[root]
    header = f"{operation}({', '.join(declarations)})" if declarations else operation
    call = f"{name}({', '.join(arguments)})" if arguments else name
    return f"{header} {{ {call} {selection(graphql_field.type, depth)} }}", variables


def id_positions(schema: GraphQLSchema, root: str, name: str) -> list[str]:
    """Argument and input-field paths of type ID (or lists of ID) of a root field."""
    found: list[str] = []

    def walk(type_: Any, position: str, depth: int) -> None:
        named = get_named_type(type_)
        if isinstance(named, GraphQLScalarType) and named.name == "ID":
            found.append(position)
        elif isinstance(named, GraphQLInputObjectType) and depth < MAX_INPUT_DEPTH:
            for field_name, input_field in named.fields.items():
                walk(input_field.type, f"{position}.{field_name}", depth + 1)

    for arg_name, arg in root_field(schema, root, name).args.items():
        walk(arg.type, arg_name, 0)
    return found
