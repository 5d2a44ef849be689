"""The one source of truth for "may principal P do operation O on object X".

Plain functions, called by Strawberry permission classes, resolvers and actors alike.
Row visibility is a SQL predicate (database grants) added to every list query.
"""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q

from models import DndPolicy, Plan, PlanState, SavedRule, Segment
from permissions.names import Perm
from permissions.principal import Principal

# The permission needed to change each kind of owned object.
WRITE_PERMISSION: dict[type, Perm] = {
    Segment: Perm.SEGMENT_WRITE,
    Plan: Perm.PLAN_WRITE,
    SavedRule: Perm.RULE_WRITE,
    DndPolicy: Perm.DND_MANAGE,
}


def may(principal: Principal | None, perm: Perm) -> bool:
    """True if the principal's profile holds `perm`."""
    return principal is not None and perm in principal.permissions


def visible_database_ids(principal: Principal) -> frozenset[int] | None:
    """The databases the principal may see; None means every database."""
    return None if principal.all_databases else principal.database_ids


def can_see_database(principal: Principal | None, database_id: int | None) -> bool:
    """True if the principal may see rows of this database."""
    if principal is None or database_id is None:
        return False
    return principal.all_databases or database_id in principal.database_ids


def database_q(principal: Principal, field: str = "database_id") -> Q:
    """A Tortoise filter keeping only rows of databases the principal may see."""
    ids = visible_database_ids(principal)
    return Q() if ids is None else Q(**{f"{field}__in": sorted(ids)})


def database_predicate(principal: Principal, column: str, params: list[Any]) -> str:
    """A SQL predicate for raw queries; appends its bind parameter to `params`.

    `column` must come from code (a fixed column name), never from input.
    """
    ids = visible_database_ids(principal)
    if ids is None:
        return "TRUE"
    params.append(sorted(ids))
    return f"{column} = ANY(${len(params)}::int[])"


def owns(principal: Principal, obj: Any) -> bool:
    """True if the principal (or the creator of its API key) authored `obj`."""
    return getattr(obj, "author_id", None) == principal.user_id


def can_edit(principal: Principal | None, obj: Any) -> bool:
    """True if the principal may modify or delete `obj` (a segment, plan, saved rule or
    DND policy): it sees the object's database, holds the write permission for its kind,
    and authored it or holds manage_others. Archived plans also need plan.reopen_archived;
    a global DND policy (no database) needs access to every database."""
    if principal is None or getattr(obj, "deleted_at", None) is not None:
        return False
    perm = next((p for cls, p in WRITE_PERMISSION.items() if isinstance(obj, cls)), None)
    if perm is None or not may(principal, perm):
        return False
    database_id = getattr(obj, "database_id", None)
    if database_id is None:
        if not principal.all_databases:
            return False
    elif not can_see_database(principal, database_id):
        return False
    archived = isinstance(obj, Plan) and obj.state == PlanState.ARCHIVED
    if archived and not may(principal, Perm.PLAN_REOPEN_ARCHIVED):
        return False
    return owns(principal, obj) or may(principal, Perm.MANAGE_OTHERS)


def can_grant_permissions(principal: Principal, permissions: frozenset[Perm]) -> bool:
    """A principal may hand out (to a user, key or profile) only permissions it holds."""
    return permissions <= principal.permissions


def can_grant_databases(principal: Principal, database_ids: frozenset[int]) -> bool:
    """A principal may grant only databases it sees."""
    return principal.all_databases or database_ids <= principal.database_ids
