"""Relay pieces shared by every domain: global ids, the Node interface, counted connections.

Every object type that has an id implements `Node`:

    @strawberry.type(description="...")
    class Segment(Node):
        id: NodeID[int]
        ...

        @classmethod
        async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str],
                                required: bool = False) -> list[Segment | None]:
            # load by int ids, keep only what the caller may see (None otherwise),
            # same order as node_ids; use int_ids(node_ids)

Its GraphQL `id` is then a global id (base64 of "Segment:12", built once when the object is
made: a type that defines `__post_init__` must call `super().__post_init__()`), while
`self.id` stays the integer primary key in Python; `Query.node(id:)` finds any object
through its type's `resolve_nodes`. Arguments that name an object take a `GlobalID` and
turn it into a primary key with `node_pk(value, "Segment")` (NOT_FOUND if it is not a
Segment id). Lists are connections:

    @strawberry.type(description="Segments, page by page.")
    class SegmentConnection(CountedConnection[Segment]):
        pass

    return SegmentConnection.from_page(page, Segment.from_model)  # page: resolvers.paging.Page
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import strawberry
from strawberry import relay
from strawberry.relay import GlobalID, NodeID
from strawberry.relay.types import GlobalIDValueError
from strawberry.types.nodes import SelectedField

from permissions.errors import NotFound
from resolvers.paging import Page

__all__ = [
    "CountedConnection",
    "GlobalID",
    "Node",
    "NodeID",
    "global_id",
    "int_ids",
    "node_pk",
    "selects",
]

NodeT = TypeVar("NodeT")


@strawberry.interface(name="Node", description="An object with a Globally Unique ID")
class Node:
    """The Relay Node interface, with the global id as a plain attribute.

    strawberry.relay.Node resolves `id` per object through a resolver (Info, type-name
    lookup, GlobalID, base64): 200 of the 600 resolver calls of a list of 100 segments
    with authors. Here the global id is built once when the object is made and served as
    a plain attribute field. In Python `self.id` stays the `NodeID` primary key;
    `node_global_id` holds the global id string. The SDL is the same
    (`interface Node { id: ID! }`).
    """

    node_global_id: GlobalID = strawberry.field(
        name="id", description="The Globally Unique ID of this object", default=None
    )

    def __post_init__(self) -> None:
        pk = self.id  # type: ignore[attr-defined]
        if pk is not None:
            name = type(self).__strawberry_definition__.name  # type: ignore[attr-defined]
            self.node_global_id = base64.b64encode(f"{name}:{pk}".encode()).decode()  # type: ignore[assignment]

    @classmethod
    def resolve_nodes(cls, *, info: Any, node_ids: Iterable[str], required: bool = False) -> Any:
        """The objects of `node_ids` the caller may see (None for the others), in order."""
        raise NotImplementedError(f"{cls.__name__}.resolve_nodes")


def global_id(type_name: str, pk: int) -> GlobalID:
    """The global id of the object `pk` of GraphQL type `type_name`."""
    return GlobalID(type_name=type_name, node_id=str(pk))


def _parse(value: GlobalID | str) -> GlobalID | None:
    if isinstance(value, GlobalID):
        return value
    try:
        return GlobalID.from_id(str(value))
    except GlobalIDValueError:
        return None


def node_pk(value: GlobalID | str, *type_names: str) -> int:
    """The primary key inside a global id of one of `type_names`; NOT_FOUND otherwise."""
    parsed = _parse(value)
    if (
        parsed is None
        or parsed.type_name not in type_names
        or not parsed.node_id.isdigit()
        or len(parsed.node_id) > 18
    ):
        raise NotFound(type_names[0], value)
    return int(parsed.node_id)


def int_ids(node_ids: Iterable[str]) -> list[int | None]:
    """Node ids as integers (None for one that is not an integer: it resolves to nothing)."""
    return [int(i) if str(i).isdigit() and len(str(i)) <= 18 else None for i in node_ids]


def node_type_name(value: GlobalID | str) -> str | None:
    """The type name inside a global id, or None if it is not one."""
    parsed = _parse(value)
    return None if parsed is None else parsed.type_name


def selects(info: Any, *path: str) -> bool:
    """True if the current field's selection asks for the field `path` (directly or in
    fragments), e.g. `keyset_page(..., count_total=selects(info, "totalCount"))` or
    `selects(info, "edges", "node", "author")`."""

    def among(selections: list[Any], path: tuple[str, ...]) -> bool:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name == path[0] and (
                    len(path) == 1 or among(selection.selections, path[1:])
                ):
                    return True
            elif among(selection.selections, path):  # fragment spread or inline fragment
                return True
        return False

    return any(among(f.selections, path) for f in info.selected_fields)


@strawberry.type(description="A page of a list, with the total number of items in the list.")
class CountedConnection(relay.Connection[NodeT], Generic[NodeT]):
    total_count: int | None = strawberry.field(
        description="How many items the whole list has (all pages, with the same filters)."
    )

    @classmethod
    def from_page(cls, page: Page[Any], convert: Callable[[Any], NodeT]) -> Any:
        """The connection for a keyset page, each row converted to its GraphQL type."""
        edges = [
            relay.Edge(cursor=cursor, node=convert(row))
            for row, cursor in zip(page.rows, page.cursors, strict=True)
        ]
        return cls(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            total_count=page.total,
        )
