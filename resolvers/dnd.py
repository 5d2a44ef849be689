"""DND (contact-pressure) policies: list, get, create, update, delete with audit.

A policy belongs to one database or is global (`database` null: counts a person's messages
across every database). Global policies are visible to every caller with dnd.read and
changed only by callers who see every database. At most one default per scope: making a
policy the default clears the flag on the others of its scope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from actors.plans import PlanError, validate_dnd_rules
from models import ContactDatabase, DndPolicy
from permissions.errors import Forbidden, InputError, InvalidInput, NotFound
from permissions.principal import Principal
from permissions.rules import can_edit, can_see_database, visible_database_ids
from resolvers.context import RequestContext, audit_row
from resolvers.outcome import Outcome, with_outcome
from resolvers.plans import graphql_path

MAX_NAME = 200


def _visible(principal: Principal):
    ids = visible_database_ids(principal)
    scope = Q() if ids is None else Q(database_id__in=sorted(ids)) | Q(database_id=None)
    return DndPolicy.filter(scope, deleted_at=None)


async def list_policies(
    principal: Principal, database_id: int | None, include_global: bool
) -> list[DndPolicy]:
    """Policies the caller sees: of one database (and the global ones), or all."""
    rows = _visible(principal)
    if database_id is not None:
        if not can_see_database(principal, database_id):
            raise NotFound("Database", database_id)
        scope = Q(database_id=database_id)
        rows = rows.filter(scope | Q(database_id=None) if include_global else scope)
    elif not include_global:
        rows = rows.filter(database_id__isnull=False)
    return list(await rows.order_by("database_id", "name", "id"))


async def policies_by_ids(principal: Principal, ids: list[int | None]) -> list[DndPolicy | None]:
    """Policies by id in order; None for missing or not visible ones."""
    wanted = [i for i in ids if i is not None]
    rows = {p.id: p for p in await _visible(principal).filter(id__in=wanted)}
    return [rows.get(i) if i is not None else None for i in ids]


async def get_policy(principal: Principal, policy_id: int) -> DndPolicy:
    """A policy the caller sees; NOT_FOUND otherwise."""
    row = await _visible(principal).filter(id=policy_id).first()
    if row is None:
        raise NotFound("DndPolicy", policy_id)
    return row


def _check(name: str | None, rules: Any) -> tuple[list[dict[str, Any]] | None, list[InputError]]:
    errors: list[InputError] = []
    if name is not None and not 1 <= len(name.strip()) <= MAX_NAME:
        errors.append(InputError(("name",), f"Name must have 1-{MAX_NAME} characters.", "INVALID"))
    normalised = None
    if rules is not None:
        try:
            normalised = validate_dnd_rules(rules)
        except PlanError as error:
            errors.append(InputError(graphql_path(error.path), error.message, error.code.upper()))
    return normalised, errors


def _snapshot(policy: DndPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "rules": policy.rules,
        "is_default": policy.is_default,
        "database_id": policy.database_id,  # type: ignore[attr-defined]
        "version": policy.version,
    }


async def _clear_other_defaults(policy: DndPolicy) -> None:
    await (
        DndPolicy.filter(database_id=policy.database_id, is_default=True, deleted_at=None)  # type: ignore[attr-defined]
        .exclude(id=policy.id)
        .update(is_default=False)
    )


@with_outcome
async def create_policy(
    ctx: RequestContext,
    principal: Principal,
    *,
    database_id: int | None,
    name: str,
    rules: list[dict[str, Any]],
    is_default: bool,
) -> DndPolicy:
    """A new policy of a database the caller sees, or a global one (every database)."""
    if database_id is None:
        if not principal.all_databases:
            raise Forbidden("Only callers who see every database may create a global policy.")
    elif not can_see_database(principal, database_id) or not await ContactDatabase.exists(
        id=database_id
    ):
        raise NotFound("Database", database_id)
    normalised, errors = _check(name, rules)
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        policy = await DndPolicy.create(
            database_id=database_id,
            name=name.strip(),
            rules=normalised,
            is_default=is_default,
            author_id=principal.user_id,
        )
        if is_default:
            await _clear_other_defaults(policy)
        await audit_row(ctx, principal, "create", "dnd_policy", policy, after=_snapshot(policy))
    return policy


async def _editable(principal: Principal, policy_id: int) -> DndPolicy:
    policy = await get_policy(principal, policy_id)
    if not can_edit(principal, policy):
        raise Forbidden("You may not change this DND policy.")
    return policy


async def update_policy(
    ctx: RequestContext,
    principal: Principal,
    policy_id: int,
    version: int,
    *,
    name: str | None,
    rules: list[dict[str, Any]] | None,
    is_default: bool | None,
) -> Outcome[DndPolicy]:
    """Change a policy; a stale version gives CONFLICT with the current policy."""
    policy = await _editable(principal, policy_id)
    normalised, errors = _check(name, rules)
    if errors:
        return Outcome(errors=errors)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name.strip()
    if normalised is not None:
        changes["rules"] = normalised
    if is_default is not None:
        changes["is_default"] = is_default
    async with in_transaction():
        updated = await DndPolicy.filter(id=policy.id, version=version, deleted_at=None).update(
            version=version + 1, updated_at=datetime.now(UTC), **changes
        )
        if updated:
            after = await DndPolicy.get(id=policy.id)
            if after.is_default:
                await _clear_other_defaults(after)
            await audit_row(ctx, principal, "update", "dnd_policy", after,
                            before=_snapshot(policy), after=_snapshot(after))  # fmt: skip
    current = await DndPolicy.get(id=policy.id)
    if not updated:
        conflict = InputError(
            ("version",), "The policy was changed by someone else; reload it.", "CONFLICT"
        )
        return Outcome(value=current, errors=[conflict])
    return Outcome(value=current)


@with_outcome
async def delete_policy(ctx: RequestContext, principal: Principal, policy_id: int) -> bool:
    """Soft-delete a policy; plans that chose it fall back to the default policy."""
    policy = await _editable(principal, policy_id)
    async with in_transaction():
        await DndPolicy.filter(id=policy.id).update(deleted_at=datetime.now(UTC), is_default=False)
        await audit_row(ctx, principal, "delete", "dnd_policy", policy, before=_snapshot(policy))
    return True
