"""The audit log: the `AuditEntry` type and its root query."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from models import AuditEntry as AuditEntryRow
from permissions.classes import principal_of, requires
from permissions.names import Perm
from permissions.rules import may
from resolvers import audit as resolve
from resolvers.paging import DEFAULT_PAGE, MAX_PAGE
from schema.base import Info
from schema.relay import (
    CountedConnection,
    GlobalID,
    Node,
    NodeID,
    global_id,
    int_ids,
    node_pk,
    selects,
)


def _gid(type_name: str, pk: int | None) -> GlobalID | None:
    return None if pk is None else global_id(type_name, pk)


def object_type_of(type_name: str) -> str:
    """The audit `object_type` of a GraphQL type (ApiKey -> api_key)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower()


def type_name_of(object_type: str) -> str:
    """The GraphQL type name of an audit `object_type` (plan_run -> PlanRun)."""
    return "".join(part.title() for part in object_type.split("_"))


@strawberry.type(description="One change: who, what, when, before and after.")
class AuditEntry(Node):
    id: NodeID[int]
    at: datetime = strawberry.field(description="When it happened.")
    actor: str = strawberry.field(description="Who did it (username or API key name).")
    user_id: GlobalID | None = strawberry.field(
        description="Global id of the acting user (a `User`), if any."
    )
    api_key_id: GlobalID | None = strawberry.field(
        description="Global id of the acting API key (an `ApiKey`), if any."
    )
    action: str = strawberry.field(description="create, update, delete, login, revoke, ...")
    object_type: str = strawberry.field(description="user, profile, api_key, segment, ...")
    object_id: str | None = strawberry.field(
        description="Primary key of the changed object as stored (not a global id: the object "
        "may be gone)."
    )
    database_id: GlobalID | None = strawberry.field(
        description="Global id of the database concerned (a `Database`), if any."
    )
    before: JSON | None = strawberry.field(description="The object before (no secrets).")
    after: JSON | None = strawberry.field(description="The object after (no secrets).")
    request_id: str | None = strawberry.field(description="The X-Request-ID of the request.")

    @classmethod
    def from_model(cls, row: AuditEntryRow) -> AuditEntry:
        """The GraphQL form of an AuditEntry row."""
        return cls(
            id=row.id,
            at=row.at,
            actor=row.actor,
            user_id=_gid("User", row.user_id),  # type: ignore[attr-defined]
            api_key_id=_gid("ApiKey", row.api_key_id),  # type: ignore[attr-defined]
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            database_id=_gid("Database", row.database_id),
            before=row.before,
            after=row.after,
            request_id=row.request_id,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AuditEntry | None]:
        """Entries by id, for callers with audit.read; None for one of a database the
        caller has no grant on."""
        principal = principal_of(info)
        ids = int_ids(node_ids)
        if not may(principal, Perm.AUDIT_READ):
            return [None for _ in ids]
        found = await resolve.visible_audit_entries(principal, [i for i in ids if i is not None])
        return [cls.from_model(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description="Global id of the changed object (what `node(id:)` takes, e.g. a Segment's "
        "`id`) when its kind is a type of this API; null otherwise. The object may be gone."
    )
    def subject_id(self, info: Info) -> GlobalID | None:
        name = type_name_of(self.object_type)
        definition = info.schema.get_type_by_name(name)
        origin = getattr(definition, "origin", None)
        is_node = isinstance(origin, type) and issubclass(origin, Node)
        if not is_node or not (self.object_id or "").isdigit():
            return None
        return global_id(name, int(self.object_id or 0))


@strawberry.type(description="Audit entries, newest first, page by page.")
class AuditEntryConnection(CountedConnection[AuditEntry]):
    pass


@strawberry.input(description="Which audit entries to return; all conditions must hold.")
class AuditFilter:
    object_type: str | None = strawberry.field(default=None, description="e.g. user, segment.")
    object_id: str | None = strawberry.field(
        default=None, description="Primary key of the object as stored (see AuditEntry.objectId)."
    )
    subject_id: GlobalID | None = strawberry.field(
        default=None,
        description="Entries about this object, by its global id (e.g. a Segment's `id`): "
        "its history, deleted objects included.",
    )
    action: str | None = strawberry.field(default=None, description="e.g. create, delete.")
    user_id: GlobalID | None = strawberry.field(
        default=None, description="Global id of the acting user."
    )
    database_id: GlobalID | None = strawberry.field(
        default=None, description="Global id of the database."
    )
    since: datetime | None = strawberry.field(default=None, description="At or after this time.")
    until: datetime | None = strawberry.field(default=None, description="Before this time.")


def _subject(value: GlobalID | None) -> tuple[str, int] | None:
    """(object_type, primary key) named by a global id; NOT_FOUND if it names no object."""
    if value is None:
        return None
    return object_type_of(value.type_name), node_pk(value, value.type_name)


@strawberry.type(description="Audit root queries.")
class AuditQuery:
    @strawberry.field(
        description="Audit entries, newest first (a connection: page with `after` = "
        "`pageInfo.endCursor`). Entries of databases the caller cannot see are left out. "
        "Requires audit.read.",
        extensions=requires(Perm.AUDIT_READ),
    )
    async def audit_entries(
        self,
        info: Info,
        filter: Annotated[
            AuditFilter | None, strawberry.argument(description="Which entries.")
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(description=f"Page size (1-{MAX_PAGE}, default {DEFAULT_PAGE})."),
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(description="The `endCursor` of the previous page."),
        ] = None,
    ) -> AuditEntryConnection | None:
        f = filter or AuditFilter()
        page = await resolve.list_audit_entries(
            principal_of(info),
            object_type=f.object_type,
            object_id=f.object_id,
            subject=_subject(f.subject_id),
            action=f.action,
            user_id=node_pk(f.user_id, "User") if f.user_id is not None else None,
            database_id=node_pk(f.database_id, "Database") if f.database_id is not None else None,
            since=f.since,
            until=f.until,
            first=first,
            after=after,
            count_total=selects(info, "totalCount"),
        )
        return AuditEntryConnection.from_page(page, AuditEntry.from_model)
