"""The audit log: the `AuditEntry` type and its root query."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from models import AuditEntry as AuditEntryRow
from permissions.classes import principal_of, requires
from permissions.names import Perm
from resolvers import audit as resolve
from schema.base import Info, gid


@strawberry.type(description="One change: who, what, when, before and after.")
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="Identifier; higher is newer.")
    at: datetime = strawberry.field(description="When it happened.")
    actor: str = strawberry.field(description="Who did it (username or API key name).")
    user_id: strawberry.ID | None = strawberry.field(description="The acting user, if any.")
    api_key_id: strawberry.ID | None = strawberry.field(description="The acting API key, if any.")
    action: str = strawberry.field(description="create, update, delete, login, revoke, ...")
    object_type: str = strawberry.field(description="user, profile, api_key, segment, ...")
    object_id: str | None = strawberry.field(description="Id of the changed object.")
    database_id: strawberry.ID | None = strawberry.field(description="Database concerned, if any.")
    before: JSON | None = strawberry.field(description="The object before (no secrets).")
    after: JSON | None = strawberry.field(description="The object after (no secrets).")
    request_id: str | None = strawberry.field(description="The X-Request-ID of the request.")

    @classmethod
    def from_model(cls, row: AuditEntryRow) -> AuditEntry:
        """The GraphQL form of an AuditEntry row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            actor=row.actor,
            user_id=gid(row.user_id),  # type: ignore[attr-defined]
            api_key_id=gid(row.api_key_id),  # type: ignore[attr-defined]
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            database_id=gid(row.database_id),
            before=row.before,
            after=row.after,
            request_id=row.request_id,
        )


@strawberry.input(description="Which audit entries to return; all conditions must hold.")
class AuditFilter:
    object_type: str | None = strawberry.field(default=None, description="e.g. user, segment.")
    object_id: str | None = strawberry.field(default=None, description="Id of the object.")
    action: str | None = strawberry.field(default=None, description="e.g. create, delete.")
    user_id: strawberry.ID | None = strawberry.field(default=None, description="Acting user.")
    database_id: strawberry.ID | None = strawberry.field(default=None, description="Database.")
    since: datetime | None = strawberry.field(default=None, description="At or after this time.")
    until: datetime | None = strawberry.field(default=None, description="Before this time.")


@strawberry.type(description="Audit root queries.")
class AuditQuery:
    @strawberry.field(
        description="Audit entries, newest first. Page with `before` = the last id seen. "
        "Entries of databases the caller cannot see are left out. Requires audit.read.",
        extensions=requires(Perm.AUDIT_READ),
    )
    async def audit_entries(
        self,
        info: Info,
        filter: Annotated[
            AuditFilter | None, strawberry.argument(description="Which entries.")
        ] = None,
        first: Annotated[int, strawberry.argument(description="How many (1-500).")] = 50,
        before: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only entries older than this id (next page)."),
        ] = None,
    ) -> list[AuditEntry] | None:
        f = filter or AuditFilter()
        rows = await resolve.list_audit_entries(
            principal_of(info),
            object_type=f.object_type,
            object_id=f.object_id,
            action=f.action,
            user_id=f.user_id,
            database_id=f.database_id,
            since=f.since,
            until=f.until,
            before=before,
            first=first,
        )
        return [AuditEntry.from_model(r) for r in rows]
