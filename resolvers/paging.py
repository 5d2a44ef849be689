"""Keyset (cursor) paging over Tortoise querysets, for Relay connections on big tables.

    page = await keyset_page(
        Segment.filter(database_q(principal)).select_related("author"),
        [SortKey("author__name"), SortKey("created_at", descending=True)],
        first=20, after=cursor,
    )

The row id is always the last sort key, so the order is total and a cursor names exactly
one position. A cursor is opaque (base64 JSON of the row's sort values); a cursor that does
not decode, or was made for another sort, is a BAD_USER_INPUT error. `total` counts the
whole filtered set (not just the page).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from permissions.errors import BadArgument

M = TypeVar("M")

DEFAULT_PAGE = 50
MAX_PAGE = 500


@dataclass(frozen=True)
class SortKey:
    """One ordering column: a Tortoise field path ("name", "author__name") or annotation.

    The path comes from code, never from input. Relation paths need the relation loaded
    (`select_related`), since the last row's values are read from the objects.
    """

    field: str
    descending: bool = False


@dataclass
class Page(Generic[M]):
    """One page of rows with a cursor per row."""

    rows: list[M]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: int | None


def page_size(first: int | None) -> int:
    """The page size asked for, or the default; outside 1..MAX_PAGE is BAD_USER_INPUT."""
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise BadArgument(f"first must be between 1 and {MAX_PAGE}.")
    return first


def _value_of(row: Any, path: str) -> Any:
    value = row
    for part in path.split("__"):
        value = getattr(value, part)
    return value


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    if hasattr(value, "value") and not isinstance(value, (int, str)):  # enums
        return value.value
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        return {"dt": datetime.fromisoformat, "d": date.fromisoformat, "n": Decimal}[tag](text)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for a row's sort values (a page makes one per row: orjson)."""
    raw = orjson.dumps([_encode_value(v) for v in values])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The sort values in a cursor; BAD_USER_INPUT if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
        if not isinstance(values, list) or len(values) != length:
            raise ValueError(cursor)
        return [_decode_value(v) for v in values]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:  # JSONDecodeError too
        raise BadArgument("Invalid cursor: use a cursor from the same list and order.") from exc


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> Q:
    """Rows strictly after `values` in the order of `keys` (a NULL value sorts as equal-less:
    use non-null keys or coalesced annotations)."""
    branches = []
    for i, key in enumerate(keys):
        equal = {k.field: v for k, v in zip(keys[:i], values[:i], strict=True)}
        op = "lt" if key.descending else "gt"
        branches.append(Q(**equal, **{f"{key.field}__{op}": values[i]}))
    result = branches[0]
    for branch in branches[1:]:
        result = result | branch
    return result


async def keyset_page(
    queryset: QuerySet[M],
    sort: Sequence[SortKey],
    *,
    first: int | None,
    after: str | None,
    count_total: bool = True,
) -> Page[M]:
    """The page of `first` rows after the cursor `after`, in `sort` order then by id."""
    size = page_size(first)
    keys = [*sort, SortKey("id")]
    total = await queryset.count() if count_total else None
    paged = queryset
    if after is not None:
        paged = paged.filter(_after(keys, decode_cursor(after, len(keys))))
    ordering = [f"-{k.field}" if k.descending else k.field for k in keys]
    rows = list(await paged.order_by(*ordering).limit(size + 1))
    has_next = len(rows) > size
    rows = rows[:size]
    cursors = [encode_cursor([_value_of(r, k.field) for k in keys]) for r in rows]
    return Page(rows, cursors, has_next, after is not None, total)
