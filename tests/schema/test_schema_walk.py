"""Walks the whole schema for the standards every domain module must meet; each failure
names the offending type, field, argument or value."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
)

from contactplan.settings import Settings
from permissions.classes import required_permission
from schema import build_schema
from schema.root import strawberry_name

SCHEMA = build_schema(Settings())
GRAPHQL = SCHEMA._schema
ROOTS = ("Query", "Mutation", "Subscription")
BUILTIN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}

# Root fields anyone may call, and why.
PUBLIC_FIELDS = {
    "Mutation.login": "how a caller without credentials gets a token",
}


def _own_types() -> dict[str, object]:
    return {
        name: t
        for name, t in GRAPHQL.type_map.items()
        if not name.startswith("__") and name not in BUILTIN_SCALARS
    }


def _unguarded_root_fields() -> list[str]:
    unguarded = []
    for root in ROOTS:
        definition = SCHEMA.get_type_by_name(root)
        if definition is None:
            continue
        for field in definition.fields:  # type: ignore[union-attr]
            guarded, _ = required_permission(field.extensions)
            name = f"{root}.{strawberry_name(field)}"
            if not guarded and name not in PUBLIC_FIELDS:
                unguarded.append(name)
    return unguarded


def test_every_root_field_has_a_permission_extension() -> None:
    assert _unguarded_root_fields() == [], (
        "add extensions=requires(Perm.X) (or requires(None) for any caller) to these fields"
    )


def test_public_fields_exist_and_are_really_unguarded() -> None:
    for name in PUBLIC_FIELDS:
        root, field_name = name.split(".")
        definition = SCHEMA.get_type_by_name(root)
        fields = {strawberry_name(f): f for f in definition.fields}  # type: ignore[union-attr]
        assert field_name in fields, f"{name} is allowlisted but no longer exists"
        assert required_permission(fields[field_name].extensions) == (False, None), name


def test_the_operation_table_lists_every_guarded_root_field() -> None:
    guarded = set()
    for root in ROOTS:
        definition = SCHEMA.get_type_by_name(root)
        if definition is not None:
            guarded |= {
                strawberry_name(f)
                for f in definition.fields  # type: ignore[union-attr]
                if required_permission(f.extensions)[0]
            }
    assert set(SCHEMA.operations) == guarded


def _undescribed() -> list[str]:
    missing: list[str] = []
    for name, graphql_type in _own_types().items():
        if not getattr(graphql_type, "description", None):
            missing.append(f"type {name}")
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"field {name}.{field_name}")
                missing += [
                    f"argument {name}.{field_name}({arg_name})"
                    for arg_name, arg in field.args.items()
                    if not arg.description
                ]
        elif isinstance(graphql_type, GraphQLInputObjectType):
            missing += [
                f"input field {name}.{field_name}"
                for field_name, field in graphql_type.fields.items()
                if not field.description
            ]
        elif isinstance(graphql_type, GraphQLEnumType):
            missing += [
                f"enum value {name}.{value_name}"
                for value_name, value in graphql_type.values.items()
                if not value.description
            ]
    for directive in GRAPHQL.directives:
        missing += [
            f"directive argument @{directive.name}({arg_name})"
            for arg_name, arg in directive.args.items()
            if not arg.description
        ]
    return missing


def test_everything_has_a_description() -> None:
    assert _undescribed() == [], "GraphiQL's docs pane is the partners' manual: describe these"


def _objects_with_id_outside_node() -> list[str]:
    return [
        name
        for name, t in _own_types().items()
        if isinstance(t, GraphQLObjectType)
        and "id" in t.fields
        and "Node" not in {i.name for i in t.interfaces}
    ]


def test_every_object_with_an_id_implements_node() -> None:
    assert _objects_with_id_outside_node() == [], (
        "types with an `id` must implement Node (see schema/relay.py) so `node(id:)` finds them"
    )


def test_every_node_type_is_reachable_by_node_query() -> None:
    node = GRAPHQL.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    assert GRAPHQL.query_type is not None and "node" in GRAPHQL.query_type.fields
    assert get_named_type(GRAPHQL.query_type.fields["node"].type) is node


def test_the_walk_sees_every_kind_of_type() -> None:
    """Guards the walk itself: it must meet the kinds of types it checks, and no others."""
    kinds = (
        GraphQLObjectType,
        GraphQLInputObjectType,
        GraphQLEnumType,
        GraphQLInterfaceType,
        GraphQLUnionType,
        GraphQLScalarType,
    )
    seen = {k for t in _own_types().values() for k in kinds if isinstance(t, k)}
    assert {GraphQLObjectType, GraphQLInputObjectType, GraphQLEnumType} <= seen
    assert all(isinstance(t, kinds) for t in _own_types().values())
