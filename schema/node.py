"""`Query.node(id:)`: any object by its global id, if the caller may see it."""

from __future__ import annotations

import inspect
from typing import Annotated

import strawberry
from strawberry.types.base import StrawberryObjectDefinition

from permissions.classes import requires
from permissions.errors import NotFound
from schema.base import Info
from schema.relay import GlobalID, Node


def _node_type(info: Info, gid: GlobalID) -> type[Node]:
    definition = info.schema.get_type_by_name(gid.type_name)
    origin = definition.origin if isinstance(definition, StrawberryObjectDefinition) else None
    if origin is None or not (isinstance(origin, type) and issubclass(origin, Node)):
        raise NotFound("Node", gid)
    return origin


@strawberry.type(description="Objects by global id.")
class NodeQuery:
    @strawberry.field(
        description="Any object by its global id (the `id` of every type). NOT_FOUND if it "
        "does not exist or lies in a database the caller has no grant on.",
        extensions=requires(None),
    )
    async def node(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        node_type = _node_type(info, id)
        found = node_type.resolve_nodes(info=info, node_ids=[id.node_id], required=False)
        if inspect.isawaitable(found):
            found = await found
        node = next(iter(found), None)
        if node is None:
            raise NotFound(node_type.__name__, id)
        return node
