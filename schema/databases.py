"""Contact databases: the `Database` type and its root fields."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import strawberry

from models import ContactDatabase
from permissions.classes import principal_of, requires
from permissions.names import Perm
from permissions.rules import can_see_database
from resolvers import databases as resolve
from schema.base import Info, UserError, user_errors
from schema.relay import GlobalID, Node, NodeID, int_ids, node_pk


@strawberry.type(description="A contact database: the contacts segments and plans apply to.")
class Database(Node):
    id: NodeID[int]
    name: str = strawberry.field(description="Unique name.")
    description: str = strawberry.field(description="Free text.")
    timezone: str = strawberry.field(
        description="IANA time zone the database's dates and schedules default to."
    )
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_model(cls, row: ContactDatabase) -> Database:
        """The GraphQL form of a ContactDatabase row."""
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            timezone=row.timezone,
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Database | None]:
        """Databases by id; None for one that is missing or not granted to the caller."""
        principal = principal_of(info)
        ids = [i if can_see_database(principal, i) else None for i in int_ids(node_ids)]
        rows = await info.context.loaders.database.load_many([i for i in ids if i is not None])
        found = {r.id: cls.from_model(r) for r in rows if r is not None}
        return [found.get(i) if i is not None else None for i in ids]


@strawberry.input(description="A new contact database.")
class CreateDatabaseInput:
    name: str = strawberry.field(description="Unique name, 1-200 characters.")
    timezone: str = strawberry.field(default="UTC", description="IANA time zone, e.g. Europe/Rome.")
    description: str = strawberry.field(default="", description="Free text.")


@strawberry.type(description="Result of createDatabase.")
class DatabasePayload:
    database: Database | None = strawberry.field(description="The database, if created.")
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.type(description="Database root queries.")
class DatabasesQuery:
    @strawberry.field(
        description="The databases the caller may see (all of them for profiles with "
        "database.manage).",
        extensions=requires(None),
    )
    async def databases(self, info: Info) -> list[Database] | None:
        rows = await resolve.list_databases(principal_of(info))
        return [Database.from_model(r) for r in rows]

    @strawberry.field(
        description="One database; NOT_FOUND if it does not exist or the caller has no grant.",
        extensions=requires(None),
    )
    async def database(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="The database's global id.")],
    ) -> Database | None:
        database_id = node_pk(id, "Database")
        return Database.from_model(await resolve.get_database(principal_of(info), database_id))


@strawberry.type(description="Database root mutations.")
class DatabasesMutation:
    @strawberry.mutation(
        description="Create a contact database with the standard field and event catalog. "
        "Requires database.manage.",
        extensions=requires(Perm.DATABASE_MANAGE),
    )
    async def create_database(
        self,
        info: Info,
        input: Annotated[CreateDatabaseInput, strawberry.argument(description="The new database.")],
    ) -> DatabasePayload | None:
        outcome = await resolve.create_database(
            info.context, principal_of(info), input.name, input.timezone, input.description
        )
        return DatabasePayload(
            database=Database.from_model(outcome.value) if outcome.value else None,
            user_errors=user_errors(outcome.errors),
        )
