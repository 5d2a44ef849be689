"""DND (contact-pressure) policies: the `DndPolicy` type, its root queries and mutations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from models import DndPolicy as DndPolicyRow
from permissions.classes import principal_of, requires
from permissions.names import Perm
from permissions.rules import can_edit
from resolvers import dnd as resolve
from schema.accounts import User
from schema.base import Info, UserError, user_errors
from schema.databases import Database
from schema.relay import GlobalID, Node, NodeID, int_ids, node_pk


@strawberry.enum(description="The period of a DND rule (rolling, before the run).")
class DndPeriod(Enum):
    DAY = strawberry.enum_value("day", description="The 24 hours before.")
    WEEK = strawberry.enum_value("week", description="The 7 days before.")
    MONTH = strawberry.enum_value("month", description="The calendar month before.")
    YEAR = strawberry.enum_value("year", description="The calendar year before.")


@strawberry.type(description="At most `max` messages per `period` to one contact.")
class DndRule:
    max: int = strawberry.field(description="Messages allowed in the period.")
    period: DndPeriod = strawberry.field(description="The period.")


@strawberry.input(description="At most `max` messages per `period` to one contact.")
class DndRuleInput:
    max: int = strawberry.field(description="Messages allowed in the period (>= 1).")
    period: DndPeriod = strawberry.field(description="The period.")


def _rules(rules: list[DndRuleInput] | None) -> list[dict[str, Any]] | None:
    return None if rules is None else [{"max": r.max, "period": r.period.value} for r in rules]


@strawberry.type(
    name="DndPolicy",
    description="A contact-pressure policy: rules applied to each run against the messages "
    "already sent. Of one database, or global (a person counted once across databases).",
)
class DndPolicy(Node):
    id: NodeID[int]
    row: strawberry.Private[DndPolicyRow]

    @classmethod
    def from_model(cls, row: DndPolicyRow) -> DndPolicy:
        """The GraphQL form of a DndPolicy row."""
        return cls(id=row.id, row=row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[DndPolicy | None]:
        principal = principal_of(info)
        if Perm.DND_READ not in principal.permissions:
            return [None for _ in node_ids]
        rows = await resolve.policies_by_ids(principal, int_ids(node_ids))
        return [cls.from_model(r) if r else None for r in rows]

    @strawberry.field(description="Name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="The rules; a contact over any of them is not sent to.")
    def rules(self) -> list[DndRule]:
        return [DndRule(max=r["max"], period=DndPeriod(r["period"])) for r in self.row.rules]

    @strawberry.field(description="True if plans with no policy of their own use it.")
    def is_default(self) -> bool:
        return self.row.is_default

    @strawberry.field(description="True for a policy across every database.")
    def is_global(self) -> bool:
        return self.row.database_id is None  # type: ignore[attr-defined]

    @strawberry.field(description="Increases on every change; give it back to updates.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="When it was created.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed.")
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(description="True if the caller may change or delete it.")
    def editable(self, info: Info) -> bool:
        return can_edit(info.context.principal, self.row)

    @strawberry.field(description="Its database; null for a global policy.",
                      extensions=requires(Perm.DND_READ))  # fmt: skip
    async def database(self, info: Info) -> Database | None:
        database_id = self.row.database_id  # type: ignore[attr-defined]
        if database_id is None:
            return None
        row = await info.context.loaders.database.load(database_id)
        return Database.from_model(row) if row else None

    @strawberry.field(description="Who created it.", extensions=requires(Perm.DND_READ))
    async def author(self, info: Info) -> User | None:
        row = await info.context.loaders.user.load(self.row.author_id)  # type: ignore[attr-defined]
        return User.from_model(row) if row else None


@strawberry.input(description="A new DND policy.")
class CreateDndPolicyInput:
    database_id: GlobalID | None = strawberry.field(
        default=None, description="Its database; null: global (needs access to every database)."
    )
    name: str = strawberry.field(description="Name, 1-200 characters.")
    rules: list[DndRuleInput] = strawberry.field(description="1-10 rules.")
    is_default: bool = strawberry.field(
        default=False, description="Make it the default of its database (or the global one)."
    )


@strawberry.input(description="Changes to a DND policy; omitted fields stay as they are.")
class UpdateDndPolicyInput:
    id: GlobalID = strawberry.field(description="The policy.")
    version: int = strawberry.field(description="The version read; stale gives CONFLICT.")
    name: str | None = strawberry.field(default=None, description="New name.")
    rules: list[DndRuleInput] | None = strawberry.field(default=None, description="New rules.")
    is_default: bool | None = strawberry.field(default=None, description="Default flag.")


@strawberry.type(description="Result of a DND policy mutation.")
class DndPolicyPayload:
    dnd_policy: DndPolicy | None = strawberry.field(
        description="The policy; on CONFLICT the current version."
    )
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.type(description="Result of deleteDndPolicy.")
class DeleteDndPolicyPayload:
    deleted_id: GlobalID | None = strawberry.field(description="The deleted policy's id.")
    user_errors: list[UserError] = strawberry.field(description="Why not; empty on success.")


def _payload(outcome: Any) -> DndPolicyPayload:
    value = outcome.value
    return DndPolicyPayload(
        dnd_policy=DndPolicy.from_model(value) if value else None,
        user_errors=user_errors(outcome.errors),
    )


@strawberry.type(description="DND policy root queries.")
class DndQuery:
    @strawberry.field(
        description="DND policies the caller sees: of one database plus the global ones, or "
        "of every visible database. Requires dnd.read.",
        extensions=requires(Perm.DND_READ),
    )
    async def dnd_policies(
        self,
        info: Info,
        database_id: Annotated[
            GlobalID | None, strawberry.argument(description="Only this database's policies.")
        ] = None,
        include_global: Annotated[
            bool, strawberry.argument(description="Include the global policies.")
        ] = True,
    ) -> list[DndPolicy] | None:
        pk = None if database_id is None else node_pk(database_id, "Database")
        rows = await resolve.list_policies(principal_of(info), pk, include_global)
        return [DndPolicy.from_model(r) for r in rows]

    @strawberry.field(
        description="One DND policy; NOT_FOUND if missing or of a database the caller has no "
        "grant on.",
        extensions=requires(Perm.DND_READ),
    )
    async def dnd_policy(
        self, info: Info, id: Annotated[GlobalID, strawberry.argument(description="Policy id.")]
    ) -> DndPolicy | None:
        row = await resolve.get_policy(principal_of(info), node_pk(id, "DndPolicy"))
        return DndPolicy.from_model(row)


@strawberry.type(description="DND policy root mutations (dnd.manage: admins by default).")
class DndMutation:
    @strawberry.mutation(description="Create a DND policy.", extensions=requires(Perm.DND_MANAGE))
    async def create_dnd_policy(
        self,
        info: Info,
        input: Annotated[CreateDndPolicyInput, strawberry.argument(description="The policy.")],
    ) -> DndPolicyPayload | None:
        outcome = await resolve.create_policy(
            info.context,
            principal_of(info),
            database_id=None
            if input.database_id is None
            else node_pk(input.database_id, "Database"),
            name=input.name,
            rules=_rules(input.rules) or [],
            is_default=input.is_default,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Change a DND policy; a stale version gives CONFLICT and the current one.",
        extensions=requires(Perm.DND_MANAGE),
    )
    async def update_dnd_policy(
        self,
        info: Info,
        input: Annotated[UpdateDndPolicyInput, strawberry.argument(description="The changes.")],
    ) -> DndPolicyPayload | None:
        outcome = await resolve.update_policy(
            info.context,
            principal_of(info),
            node_pk(input.id, "DndPolicy"),
            input.version,
            name=input.name,
            rules=_rules(input.rules),
            is_default=input.is_default,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Delete a DND policy; plans that chose it use the default one.",
        extensions=requires(Perm.DND_MANAGE),
    )
    async def delete_dnd_policy(
        self, info: Info, id: Annotated[GlobalID, strawberry.argument(description="Policy id.")]
    ) -> DeleteDndPolicyPayload | None:
        outcome = await resolve.delete_policy(
            info.context, principal_of(info), node_pk(id, "DndPolicy")
        )
        return DeleteDndPolicyPayload(
            deleted_id=id if outcome.value else None, user_errors=user_errors(outcome.errors)
        )
