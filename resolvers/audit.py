"""Reading the audit log (newest first, keyset paging), scoped to visible databases."""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q

from models import AuditEntry
from permissions.errors import BadArgument
from permissions.principal import Principal
from permissions.rules import visible_database_ids
from resolvers.paging import Page, SortKey, keyset_page

NEWEST_FIRST = [SortKey("id", descending=True)]


def _fitting(argument: str, value: str | None, column: str) -> str | None:
    """The filter value; BAD_USER_INPUT if it is longer than the column could hold."""
    limit = AuditEntry._meta.fields_map[column].max_length
    if value is not None and len(value) > limit:
        raise BadArgument(f"{argument} has at most {limit} characters.")
    return value


def visible_entries_q(principal: Principal) -> Q:
    """Entries with no database or of a database the principal may see."""
    visible = visible_database_ids(principal)
    if visible is None:
        return Q()
    return Q(database_id__isnull=True) | Q(database_id__in=sorted(visible))


async def list_audit_entries(
    principal: Principal,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    subject: tuple[str, int] | None = None,
    action: str | None = None,
    user_id: int | None = None,
    database_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    first: int | None = None,
    after: str | None = None,
    count_total: bool = True,
) -> Page[AuditEntry]:
    """A page of entries matching the filter, newest first. `subject` is an object's
    (object_type, primary key), combined with the other conditions."""
    object_type = _fitting("objectType", object_type, "object_type")
    object_id = _fitting("objectId", object_id, "object_id")
    action = _fitting("action", action, "action")
    query = AuditEntry.filter(visible_entries_q(principal))
    if object_type:
        query = query.filter(object_type=object_type)
    if object_id:
        query = query.filter(object_id=object_id)
    if subject is not None:
        query = query.filter(object_type=subject[0], object_id=str(subject[1]))
    if action:
        query = query.filter(action=action)
    if user_id is not None:
        query = query.filter(user_id=user_id)
    if database_id is not None:
        query = query.filter(database_id=database_id)
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    return await keyset_page(query, NEWEST_FIRST, first=first, after=after, count_total=count_total)


async def visible_audit_entries(principal: Principal, ids: list[int]) -> dict[int, AuditEntry]:
    """The entries with these ids that the principal may see, by id."""
    if not ids:
        return {}
    rows = await AuditEntry.filter(visible_entries_q(principal), id__in=ids)
    return {row.id: row for row in rows}
