"""Saved rules: presets shared in a database and favourites visible only to their author.

A saved rule is one node of a condition tree (`{"event": {...}}`, `{"contact": {...}}`...),
checked like a definition whose root it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import SavedRule
from permissions.audit import record_audit
from permissions.errors import Forbidden, InputError, InvalidInput, NotFound
from permissions.principal import Principal
from permissions.rules import can_edit, database_q
from resolvers.context import RequestContext
from resolvers.databases import get_database
from resolvers.outcome import Outcome, with_outcome
from resolvers.paging import Page, SortKey, keyset_page
from resolvers.segments import compile_segment, error_path
from segmentation import InvalidSegment

KINDS = ("preset", "favourite")
MAX_NAME = 200


def visible_rules(principal: Principal) -> Any:
    """Live rules of visible databases: every preset, and the caller's own favourites."""
    return SavedRule.filter(
        database_q(principal),
        Q(kind="preset") | Q(author_id=principal.user_id),
        deleted_at=None,
    )


async def list_rules(
    principal: Principal,
    database_id: int,
    kind: str | None,
    first: int | None,
    after: str | None,
) -> Page[SavedRule]:
    """A page of a database's saved rules the caller may see, by name."""
    await get_database(principal, database_id)  # NOT_FOUND: absent or not visible
    query = visible_rules(principal).filter(database_id=database_id)
    if kind is not None:
        query = query.filter(kind=kind)
    return await keyset_page(query, [SortKey("name")], first=first, after=after)


async def get_rule(principal: Principal, pk: int) -> SavedRule:
    """A rule the caller may see; NOT_FOUND otherwise (others' favourites included)."""
    row = await visible_rules(principal).get_or_none(id=pk)
    if row is None:
        raise NotFound("SavedRule", pk)
    return row


def rules_loader(principal: Principal):
    """Batch function: visible rules by id (None where not visible)."""

    async def load(ids: list[int]) -> list[SavedRule | None]:
        rows = {r.id: r for r in await visible_rules(principal).filter(id__in=ids)}
        return [rows.get(i) for i in ids]

    return load


async def _check(
    ctx: RequestContext, name: str | None, rule: Any, field: str, database_id: int
) -> list[InputError]:
    errors = []
    if name is not None and not (0 < len(name.strip()) <= MAX_NAME):
        errors.append(InputError(("name",), f"Name must have 1-{MAX_NAME} characters.", "INVALID"))
    if rule is not None:
        try:
            await compile_segment(ctx, {"root": rule}, database_id, None)
        except InvalidSegment as exc:
            errors += [
                InputError(
                    error_path(field, e.path.removeprefix("root").lstrip(".")),
                    e.message,
                    e.code.upper(),
                )
                for e in exc.errors
            ]
    return errors


def _snapshot(row: SavedRule) -> dict[str, Any]:
    return {"name": row.name, "kind": row.kind, "definition": row.definition}


@with_outcome
async def create_rule(
    ctx: RequestContext,
    principal: Principal,
    database_id: int,
    name: str,
    kind: str,
    rule: Any,
    field: str,
) -> SavedRule:
    """Save a rule as a preset or a favourite of the caller."""
    await get_database(principal, database_id)  # NOT_FOUND: absent or not visible
    errors = await _check(ctx, name, rule, field, database_id)
    if rule is None:
        errors.append(InputError(("rule",), "A rule is required.", "REQUIRED"))
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        row = await SavedRule.create(
            database_id=database_id,
            author_id=principal.user_id,
            name=name.strip(),
            kind=kind,
            definition=rule,
        )
        await record_audit(
            principal, "create", "saved_rule", row.id, database_id=database_id,
            after=_snapshot(row), request_id=ctx.request_id,
        )  # fmt: skip
    return row


async def _editable(principal: Principal, pk: int) -> SavedRule:
    row = await get_rule(principal, pk)
    if not can_edit(principal, row):
        raise Forbidden("You may change only rules you saved.")
    return row


async def update_rule(
    ctx: RequestContext,
    principal: Principal,
    pk: int,
    version: int,
    name: str | None,
    kind: str | None,
    rule: Any,
    field: str,
) -> Outcome[SavedRule]:
    """Rename, re-kind or replace a rule; a stale version is CONFLICT with the current rule."""
    row = await _editable(principal, pk)
    conflict = InputError(
        ("version",), f"The rule was changed meanwhile (now version {row.version}).", "CONFLICT"
    )
    if version != row.version:
        return Outcome(value=row, errors=[conflict])
    errors = await _check(ctx, name, rule, field, row.database_id)  # type: ignore[attr-defined]
    if errors:
        return Outcome(errors=errors)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name.strip()
    if kind is not None:
        changes["kind"] = kind
    if rule is not None:
        changes["definition"] = rule
    before = _snapshot(row)
    async with in_transaction():
        changed = await SavedRule.filter(id=pk, version=version, deleted_at=None).update(
            **changes, version=version + 1, updated_at=dt.datetime.now(dt.UTC)
        )
        current = await get_rule(principal, pk)
        if changed:
            await record_audit(
                principal, "update", "saved_rule", pk, database_id=current.database_id,  # type: ignore[attr-defined]
                before=before, after=_snapshot(current), request_id=ctx.request_id,
            )  # fmt: skip
    if not changed:
        return Outcome(value=current, errors=[conflict])
    return Outcome(value=current)


@with_outcome
async def delete_rule(ctx: RequestContext, principal: Principal, pk: int) -> int:
    """Delete a rule (soft)."""
    row = await _editable(principal, pk)
    async with in_transaction():
        await SavedRule.filter(id=pk).update(deleted_at=dt.datetime.now(dt.UTC))
        await record_audit(
            principal, "delete", "saved_rule", pk, database_id=row.database_id,  # type: ignore[attr-defined]
            before=_snapshot(row), request_id=ctx.request_id,
        )  # fmt: skip
    return pk
