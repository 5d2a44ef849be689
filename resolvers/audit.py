"""Reading the audit log (newest first, keyset paging)."""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q

from models import AuditEntry
from permissions.principal import Principal
from permissions.rules import visible_database_ids
from resolvers.context import page_bounds, parse_id


async def list_audit_entries(
    principal: Principal,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    user_id: object | None = None,
    database_id: object | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: object | None = None,
    first: int = 50,
) -> list[AuditEntry]:
    """Entries matching the filter; entries of databases the caller cannot see are left out."""
    first, _ = page_bounds(first)
    query = AuditEntry.all()
    visible = visible_database_ids(principal)
    if visible is not None:
        query = query.filter(Q(database_id__isnull=True) | Q(database_id__in=sorted(visible)))
    if object_type:
        query = query.filter(object_type=object_type)
    if object_id:
        query = query.filter(object_id=object_id)
    if action:
        query = query.filter(action=action)
    if user_id is not None:
        query = query.filter(user_id=parse_id(user_id, "User"))
    if database_id is not None:
        query = query.filter(database_id=parse_id(database_id, "Database"))
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    if before is not None:
        query = query.filter(id__lt=parse_id(before, "AuditEntry"))
    return list(await query.order_by("-id").limit(first))
