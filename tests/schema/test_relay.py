"""schema/relay.py's Node (global id precomputed, `self.id` the primary key) and
schema/fast_fields.py (direct resolvers for plain fields, strawberry's path for the rest)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from schema.fast_fields import fast_fields
from schema.relay import CountedConnection, GlobalID, Node, NodeID, node_pk
from schema.root import build_schema

CALLS: list[str] = []


@strawberry.type(name="Thing", description="A test node.")
class Thing(Node):
    id: NodeID[int]
    label: str = strawberry.field(description="Label.")

    @classmethod
    def resolve_nodes(
        cls, *, info: Any, node_ids: Iterable[str], required: bool = False
    ) -> list[Thing | None]:
        return [cls(id=int(i), label=f"thing {i}") for i in node_ids]

    @strawberry.field(description="Label, upper case, from a method.")
    def shout(self) -> str:
        CALLS.append("shout")
        return self.label.upper()

    @strawberry.field(description="The root field's name, through Info.")
    def seen_as(self, info: strawberry.Info) -> str:
        return f"{info.path.typename}.{info.field_name}:{self.id}"

    @strawberry.field(description="Async, with Info.")
    async def later(self, info: strawberry.Info) -> str:
        return f"later {self.id} {info.context['who']}"

    @strawberry.field(description="With an argument.")
    def times(self, n: int) -> str:
        return self.label * n


class Deny(BasePermission):
    message = "no"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


class Suffix(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return next_(source, info, **kwargs) + "!"


@strawberry.type(name="Guarded", description="Fields with field extensions.")
class Guarded(Node):
    id: NodeID[int]

    @strawberry.field(description="Denied.", extensions=[PermissionExtension([Deny()])])
    def secret(self) -> str | None:
        return "leak"

    @strawberry.field(description="Suffixed.", extensions=[Suffix()])
    def loud(self) -> str:
        return "hi"


@strawberry.type(description="Things, page by page.")
class ThingConnection(CountedConnection[Thing]):
    pass


@strawberry.type(description="Test root.")
class Query:
    @strawberry.field(description="Some things.")
    def things(self) -> ThingConnection:
        edges = [
            strawberry.relay.Edge(cursor=str(i), node=Thing(id=i, label=f"t{i}")) for i in (1, 2)
        ]
        return ThingConnection(
            edges=edges,
            page_info=strawberry.relay.PageInfo(
                has_next_page=False, has_previous_page=False, start_cursor="1", end_cursor="2"
            ),
            total_count=2,
        )

    @strawberry.field(description="One guarded object.")
    def guarded(self) -> Guarded:
        return Guarded(id=7)

    @strawberry.field(description="Any node.")
    def node(self, id: GlobalID) -> Node | None:
        found = Thing.resolve_nodes(info=None, node_ids=[str(node_pk(id, "Thing"))])
        return found[0]


QUERY = """{ things { totalCount edges { cursor node { id label shout seenAs later
  times(n: 2) } } } guarded { id secret loud } }"""


def _schema(fast: bool) -> strawberry.Schema:
    schema = strawberry.Schema(query=Query, types=[Thing, Guarded])
    if fast:
        fast_fields(schema)
    return schema


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_node_id_is_the_primary_key_in_python_and_a_global_id_in_graphql() -> None:
    thing = Thing(id=12, label="x")
    assert thing.id == 12
    assert thing.node_global_id == _b64("Thing:12")
    assert node_pk(thing.node_global_id, "Thing") == 12


async def test_fast_and_strawberry_resolvers_answer_the_same() -> None:
    results = []
    for fast in (False, True):
        CALLS.clear()
        result = await _schema(fast).execute(QUERY, context_value={"who": "me"})
        assert CALLS == ["shout", "shout"]
        results.append((result.data, [e.message for e in result.errors or []]))
    assert results[0] == results[1]
    data, errors = results[1]
    first = data["things"]["edges"][0]["node"]
    assert first == {
        "id": _b64("Thing:1"),
        "label": "t1",
        "shout": "T1",
        "seenAs": "Thing.seenAs:1",
        "later": "later 1 me",
        "times": "t1t1",
    }
    assert data["guarded"] == {"id": _b64("Guarded:7"), "secret": None, "loud": "hi!"}
    assert errors == ["no"]


def test_fast_fields_skips_arguments_and_field_extensions() -> None:
    schema = _schema(True)
    types = schema._schema.type_map

    def direct(type_name: str, field: str) -> bool:
        resolve = types[type_name].fields[field].resolve  # type: ignore[union-attr]
        return getattr(resolve, "__module__", None) == "schema.fast_fields"

    assert all(direct("Thing", f) for f in ("id", "label", "shout", "seenAs", "later"))
    assert not direct("Thing", "times")
    assert not direct("Guarded", "secret") and not direct("Guarded", "loud")


async def test_node_query_finds_a_node_by_its_id() -> None:
    query = "query($id: ID!) { node(id: $id) { __typename id ... on Thing { label } } }"
    result = await _schema(True).execute(query, variable_values={"id": _b64("Thing:5")})
    assert result.errors is None
    assert result.data == {
        "node": {"__typename": "Thing", "id": _b64("Thing:5"), "label": "thing 5"}
    }


def test_sdl_keeps_the_relay_node_interface() -> None:
    sdl = build_schema_sdl()
    assert '"""An object with a Globally Unique ID"""\ninterface Node {' in sdl
    assert '  """The Globally Unique ID of this object"""\n  id: ID!\n}' in sdl
    assert "type Segment implements Node {" in sdl


def build_schema_sdl() -> str:
    from contactplan.settings import Settings

    return build_schema(Settings()).as_str()
