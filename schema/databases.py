"""Contact databases: the `Database` type and its root fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from models import ContactDatabase
from permissions.classes import principal_of, requires
from permissions.names import Perm
from resolvers import databases as resolve
from schema.base import Info, UserError, user_errors


@strawberry.type(description="A contact database: the contacts segments and plans apply to.")
class Database:
    id: strawberry.ID = strawberry.field(description="Identifier.")
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
            id=strawberry.ID(str(row.id)),
            name=row.name,
            description=row.description,
            timezone=row.timezone,
            created_at=row.created_at,
        )


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
        id: Annotated[strawberry.ID, strawberry.argument(description="Database id.")],
    ) -> Database | None:
        return Database.from_model(await resolve.get_database(principal_of(info), id))


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
