"""Segments: list, load, create, update (versioned), clone, delete, count, preview, explain.

Row visibility is in every query (`database_q`); a segment of a database the caller has no
grant on, or a deleted one, is NOT_FOUND. Definitions are checked by `segmentation` and
its errors come back as input errors whose path is the input field + the node path.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.functions import Coalesce
from tortoise.transactions import in_transaction

from models import Contact, Plan, Segment, SegmentCountSnapshot
from permissions.audit import record_audit
from permissions.errors import BadArgument, Forbidden, InputError, InvalidInput, NotFound
from permissions.principal import Principal
from permissions.rules import can_edit, database_predicate, database_q
from resolvers.context import RequestContext
from resolvers.databases import database_page, get_database
from resolvers.outcome import Outcome, with_outcome
from resolvers.paging import Page, SortKey, decode_cursor, encode_cursor, keyset_page, page_size
from segmentation import (
    CompiledSegment,
    Explanation,
    InvalidSegment,
    SegmentError,
    compile_for_database,
    count_members,
    explain_contact,
    preview_members,
)

MAX_NAME = 200
MAX_FOLDER = 200
MAX_TAGS = 20
MAX_TAG = 50
ORDER_KEYS = {
    "name": "name",
    "created_at": "created_at",
    "author": "author__username",
    "count": "count_key",
}


# ---- reading -------------------------------------------------------------------------


def visible_segments(principal: Principal) -> Any:
    """The live segments of the databases the principal may see."""
    return Segment.filter(database_q(principal), deleted_at=None)


async def get_segment(principal: Principal, pk: int) -> Segment:
    """A visible, live segment; NOT_FOUND otherwise."""
    row = await visible_segments(principal).get_or_none(id=pk)
    if row is None:
        raise NotFound("Segment", pk)
    return row


def segments_loader(principal: Principal):
    """Batch function: visible live segments by id (None where not visible)."""

    async def load(ids: list[int]) -> list[Segment | None]:
        rows = {s.id: s for s in await visible_segments(principal).filter(id__in=ids)}
        return [rows.get(i) for i in ids]

    return load


@dataclass(frozen=True)
class SegmentFilter:
    """What `segments` keeps: name contains, author, creation time range."""

    name_contains: str | None = None
    author_id: int | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


async def list_segments(
    principal: Principal,
    database_id: int,
    *,
    where: SegmentFilter,
    order: str,
    descending: bool,
    first: int | None,
    after: str | None,
) -> Page[Segment]:
    """A keyset page of a database's segments, filtered and sorted."""
    query = visible_segments(principal).filter(database_id=database_id)
    if where.name_contains:
        query = query.filter(name__icontains=where.name_contains)
    if where.author_id is not None:
        query = query.filter(author_id=where.author_id)
    if where.created_after is not None:
        query = query.filter(created_at__gte=where.created_after)
    if where.created_before is not None:
        query = query.filter(created_at__lt=where.created_before)
    if order == "author":
        query = query.select_related("author")
    if order == "count":  # never-counted segments sort as -1 (keyset needs non-null keys)
        query = query.annotate(count_key=Coalesce("last_count", -1))
    sort = [SortKey(ORDER_KEYS[order], descending)]
    return await database_page(
        principal, database_id, lambda: keyset_page(query, sort, first=first, after=after)
    )


def referenced_ids(data: Any) -> list[int]:
    """Segment numbers referenced anywhere in a stored definition, in order, once each."""
    found: list[int] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            ref = node.get("segment")
            if isinstance(ref, dict) and isinstance(ref.get("id"), int) and ref["id"] not in found:
                found.append(ref["id"])
            for value in node.values():
                walk(value)

    walk(data)
    return found


_USED_BY_SQL = """
SELECT DISTINCT r.ref::bigint AS ref, s.id, s.name
  FROM segment s, LATERAL jsonb_path_query(s.definition, 'lax $.**.segment.id') r(ref)
 WHERE s.deleted_at IS NULL AND jsonb_typeof(r.ref) = 'number'
   AND r.ref::bigint = ANY($1::bigint[]) AND {visible}
 ORDER BY s.name, s.id
"""


def used_by_loader(principal: Principal):
    """Batch function: for each segment id, the ids of live visible segments using it."""

    async def load(ids: list[int]) -> list[list[int]]:
        params: list[Any] = [ids]
        sql = _USED_BY_SQL.format(visible=database_predicate(principal, "s.database_id", params))
        rows = await connections.get("default").execute_query_dict(sql, params)
        users: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            users[row["ref"]].append(row["id"])
        return [users.get(i, []) for i in ids]

    return load


def plans_loader(principal: Principal):
    """Batch function: for each segment id, its plans (not deleted), by name."""

    async def load(ids: list[int]) -> list[list[Plan]]:
        rows = await Plan.filter(
            database_q(principal), segment_id__in=ids, deleted_at=None
        ).order_by("name", "id")
        plans: dict[int, list[Plan]] = defaultdict(list)
        for row in rows:
            plans[row.segment_id].append(row)  # type: ignore[attr-defined]
        return [plans.get(i, []) for i in ids]

    return load


async def snapshots_by_segment(ids: list[int]) -> list[list[SegmentCountSnapshot]]:
    """Batch function: each segment's daily counts, oldest first (segments already visible)."""
    rows = await SegmentCountSnapshot.filter(segment_id__in=ids).order_by("day")
    found: dict[int, list[SegmentCountSnapshot]] = defaultdict(list)
    for row in rows:
        found[row.segment_id].append(row)  # type: ignore[attr-defined]
    return [found.get(i, []) for i in ids]


# ---- definitions ---------------------------------------------------------------------

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def error_path(field: str, path: str) -> tuple[str, ...]:
    """`root.and[1].value` under input field `definition` -> (definition, root, and, 1, value)."""
    parts = [a or b for a, b in _STEP.findall(path)]
    if parts and parts[0] == "definition":
        parts = parts[1:]
    return (field, *parts)


def input_errors(errors: list[SegmentError], field: str) -> list[InputError]:
    """Segmentation errors as input errors under `field`."""
    return [InputError(error_path(field, e.path), e.message, e.code.upper()) for e in errors]


def resolver_for(database_id: int):
    """`resolve_segment` for segmentation: live segments of this database only."""

    async def resolve(segment_id: int) -> Any | None:
        rows = await connections.get("default").execute_query_dict(
            "SELECT definition FROM segment WHERE id = $1 AND database_id = $2"
            " AND deleted_at IS NULL",
            [segment_id, database_id],
        )
        if not rows:
            return None
        raw = rows[0]["definition"]
        return json.loads(raw) if isinstance(raw, str) else raw

    return resolve


async def compile_segment(
    ctx: RequestContext,
    data: Any,
    database_id: int,
    as_of: dt.datetime | None,
    *,
    segment_id: int | None = None,
) -> CompiledSegment:
    """Validate and compile a definition of a database (raises InvalidSegment)."""
    return await compile_for_database(
        data,
        database_id,
        as_of or dt.datetime.now(dt.UTC),
        resolve_segment=resolver_for(database_id),
        max_depth=ctx.settings.max_tree_depth,
        max_nodes=ctx.settings.max_tree_nodes,
        segment_id=segment_id,
    )


async def check_definition_input(
    ctx: RequestContext,
    data: Any,
    database_id: int,
    field: str,
    *,
    segment_id: int | None = None,
) -> list[InputError]:
    """Every mistake in a definition, as input errors under `field` (empty: valid)."""
    try:
        await compile_segment(ctx, data, database_id, None, segment_id=segment_id)
    except InvalidSegment as exc:
        return input_errors(exc.errors, field)
    return []


async def compile_stored(ctx: RequestContext, segment: Segment, as_of: dt.datetime | None):
    """The compiled SQL of a saved segment; a definition no longer valid (catalog changed)
    is BAD_USER_INPUT naming its first mistake."""
    try:
        return await compile_segment(
            ctx,
            segment.definition,
            segment.database_id,
            as_of,
            segment_id=segment.id,  # type: ignore[attr-defined]
        )
    except InvalidSegment as exc:
        first = exc.errors[0]
        raise BadArgument(
            f"The segment's definition is no longer valid: {first.path}: {first.message}"
        ) from exc


# ---- running -------------------------------------------------------------------------


async def count_segment(ctx: RequestContext, segment: Segment, as_of: dt.datetime | None) -> int:
    """Count the members; a count as of now is kept as last_count and today's snapshot."""
    compiled = await compile_stored(ctx, segment, as_of)
    count = await count_members(compiled)
    if as_of is None:
        now = dt.datetime.now(dt.UTC)
        await Segment.filter(id=segment.id).update(last_count=count, counted_at=now)
        await connections.get("default").execute_query_dict(
            "INSERT INTO segment_count_snapshot (segment_id, day, count, taken_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (segment_id, day)"
            " DO UPDATE SET count = EXCLUDED.count, taken_at = EXCLUDED.taken_at",
            [segment.id, now.date(), count, now],
        )
        segment.last_count, segment.counted_at = count, now
    return count


async def count_unsaved(
    ctx: RequestContext,
    principal: Principal,
    database_id: int,
    data: Any,
    field: str,
    as_of: dt.datetime | None,
    segment_id: int | None = None,
) -> Outcome[int]:
    """Live count of a definition being edited (as segment `segment_id`, for the cycle
    check), or its mistakes."""
    await get_database(principal, database_id)  # NOT_FOUND: absent or not visible
    try:
        compiled = await compile_segment(ctx, data, database_id, as_of, segment_id=segment_id)
    except InvalidSegment as exc:
        return Outcome(errors=input_errors(exc.errors, field))
    return Outcome(value=await count_members(compiled))


@dataclass(frozen=True)
class MembersPage:
    """A page of member contacts with their cursors."""

    contacts: list[Contact]
    cursors: list[str]
    has_next: bool
    has_previous: bool


async def preview_segment(
    ctx: RequestContext, segment: Segment, first: int | None, after: str | None
) -> MembersPage:
    """A page of member contacts in contact id order."""
    size = page_size(first)
    after_id = decode_cursor(after, 1)[0] if after is not None else None
    if after_id is not None and not isinstance(after_id, int):
        raise BadArgument("Invalid cursor: use a cursor from the same list and order.")
    compiled = await compile_stored(ctx, segment, None)
    page = await preview_members(compiled, first=size, after=after_id)
    rows = {
        c.id: c
        for c in await Contact.filter(
            id__in=page.contact_ids,
            database_id=segment.database_id,  # type: ignore[attr-defined]
        )
    }
    contacts = [rows[i] for i in page.contact_ids if i in rows]
    cursors = [encode_cursor([c.id]) for c in contacts]
    return MembersPage(contacts, cursors, page.has_next_page, after is not None)


async def explain_segment(
    ctx: RequestContext, segment: Segment, contact_id: int, as_of: dt.datetime | None
) -> tuple[Explanation, Contact]:
    """Why a contact of the segment's database is (not) a member; NOT_FOUND for others."""
    contact = await Contact.get_or_none(
        id=contact_id,
        database_id=segment.database_id,  # type: ignore[attr-defined]
    )
    if contact is None:
        raise NotFound("Contact", contact_id)
    compiled = await compile_stored(ctx, segment, as_of)
    explanation = await explain_contact(compiled, contact_id)
    if explanation is None:
        raise NotFound("Contact", contact_id)
    return explanation, contact


# ---- changing ------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentFields:
    """Editable fields; None = leave unchanged (update) or default (create)."""

    name: str | None = None
    description: str | None = None
    folder: str | None = None
    tags: list[str] | None = None
    definition: Any = None
    definition_field: str = "definition"  # input field the definition came in


def _check_fields(fields: SegmentFields, *, creating: bool) -> list[InputError]:
    errors = []
    if fields.name is not None or creating:
        name = (fields.name or "").strip()
        if not name or len(name) > MAX_NAME:
            errors.append(
                InputError(("name",), f"Name must have 1-{MAX_NAME} characters.", "INVALID")
            )
    if fields.folder is not None and len(fields.folder) > MAX_FOLDER:
        errors.append(
            InputError(("folder",), f"Folder has at most {MAX_FOLDER} characters.", "TOO_LONG")
        )
    if fields.tags is not None and (
        len(fields.tags) > MAX_TAGS or any(not t.strip() or len(t) > MAX_TAG for t in fields.tags)
    ):
        errors.append(
            InputError(("tags",), f"At most {MAX_TAGS} tags of 1-{MAX_TAG} characters.", "INVALID")
        )
    if creating and fields.definition is None:
        errors.append(InputError(("definition",), "A definition is required.", "REQUIRED"))
    return errors


def _snapshot(segment: Segment) -> dict[str, Any]:
    return {
        "name": segment.name,
        "description": segment.description,
        "folder": segment.folder,
        "tags": segment.tags,
        "definition": segment.definition,
        "version": segment.version,
    }


@with_outcome
async def create_segment(
    ctx: RequestContext, principal: Principal, database_id: int, fields: SegmentFields
) -> Segment:
    """A new segment authored by the caller."""
    await get_database(principal, database_id)  # NOT_FOUND: absent or not visible
    errors = _check_fields(fields, creating=True)
    if fields.definition is not None:
        errors += await check_definition_input(
            ctx, fields.definition, database_id, fields.definition_field
        )
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        segment = await _create(principal, database_id, fields, ctx)
    return segment


async def _create(
    principal: Principal, database_id: int, fields: SegmentFields, ctx: RequestContext
) -> Segment:
    segment = await Segment.create(
        database_id=database_id,
        name=(fields.name or "").strip(),
        description=fields.description or "",
        folder=fields.folder or "",
        tags=[t.strip() for t in fields.tags or []],
        author_id=principal.user_id,
        definition=fields.definition,
    )
    await record_audit(
        principal,
        "create",
        "segment",
        segment.id,
        database_id=database_id,
        after=_snapshot(segment),
        request_id=ctx.request_id,
    )
    return segment


async def _editable(principal: Principal, pk: int) -> Segment:
    segment = await get_segment(principal, pk)
    if not can_edit(principal, segment):
        raise Forbidden("You may change only segments you created.")
    return segment


async def update_segment(
    ctx: RequestContext, principal: Principal, pk: int, version: int, fields: SegmentFields
) -> Outcome[Segment]:
    """Apply changes if `version` is current; a stale version is CONFLICT with the current
    segment."""
    segment = await _editable(principal, pk)
    conflict = Outcome(
        value=segment,
        errors=[
            InputError(
                ("version",),
                f"The segment was changed meanwhile (now version {segment.version}); "
                "reload it and apply your changes again.",
                "CONFLICT",
            )
        ],
    )
    if version != segment.version:
        return conflict
    errors = _check_fields(fields, creating=False)
    if fields.definition is not None:
        errors += await check_definition_input(
            ctx,
            fields.definition,
            segment.database_id,
            fields.definition_field,
            segment_id=pk,  # type: ignore[attr-defined]
        )
    if errors:
        return Outcome(errors=errors)
    before = _snapshot(segment)
    changes: dict[str, Any] = {}
    if fields.name is not None:
        changes["name"] = fields.name.strip()
    if fields.description is not None:
        changes["description"] = fields.description
    if fields.folder is not None:
        changes["folder"] = fields.folder
    if fields.tags is not None:
        changes["tags"] = [t.strip() for t in fields.tags]
    if fields.definition is not None:
        changes.update(definition=fields.definition, last_count=None, counted_at=None)
    async with in_transaction():
        changed = await Segment.filter(id=pk, version=version, deleted_at=None).update(
            **changes, version=version + 1, updated_at=dt.datetime.now(dt.UTC)
        )
        current = await get_segment(principal, pk)
        if changed:
            await record_audit(
                principal,
                "update",
                "segment",
                pk,
                database_id=current.database_id,  # type: ignore[attr-defined]
                before=before,
                after=_snapshot(current),
                request_id=ctx.request_id,
            )
    if not changed:  # another request won the race between our read and write
        conflict.value = current
        return conflict
    return Outcome(value=current)


@with_outcome
async def clone_segment(
    ctx: RequestContext, principal: Principal, pk: int, name: str | None
) -> Segment:
    """A copy ("Copy of ...") authored by the caller, not yet counted."""
    source = await get_segment(principal, pk)
    new_name = (name if name is not None else f"Copy of {source.name}")[:MAX_NAME]
    if name is not None:
        errors = _check_fields(SegmentFields(name=name), creating=False)
        if errors:
            raise InvalidInput(errors)
    async with in_transaction():
        segment = await Segment.create(
            database_id=source.database_id,  # type: ignore[attr-defined]
            name=new_name.strip(),
            description=source.description,
            folder=source.folder,
            tags=source.tags,
            author_id=principal.user_id,
            definition=source.definition,
        )
        await record_audit(
            principal,
            "clone",
            "segment",
            segment.id,
            database_id=segment.database_id,  # type: ignore[attr-defined]
            after={**_snapshot(segment), "source": pk},
            request_id=ctx.request_id,
        )
    return segment


@with_outcome
async def delete_segment(ctx: RequestContext, principal: Principal, pk: int) -> int:
    """Soft-delete a segment nobody else references; its plans keep working."""
    segment = await _editable(principal, pk)
    users = (await used_by_loader(principal)([pk]))[0]
    if users:
        names = ", ".join(s.name for s in await Segment.filter(id__in=users).order_by("name"))
        raise InvalidInput(
            [
                InputError(
                    ("id",),
                    f"Segments use this one ({names}); remove those references first.",
                    "IN_USE",
                )
            ]
        )
    async with in_transaction():
        await Segment.filter(id=pk, deleted_at=None).update(deleted_at=dt.datetime.now(dt.UTC))
        await record_audit(
            principal,
            "delete",
            "segment",
            pk,
            database_id=segment.database_id,  # type: ignore[attr-defined]
            before=_snapshot(segment),
            request_id=ctx.request_id,
        )
    return pk


def sql_parameters(params: list[Any]) -> list[Any]:
    """Bind values as JSON (dates and decimals as text)."""
    return [
        p if isinstance(p, (int, float, str, bool, list, type(None))) else str(p) for p in params
    ]
