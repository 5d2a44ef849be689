"""Run a compiled segment: count, preview pages, stream ids, embed, INSERT ... SELECT.

Every function takes an optional asyncpg connection; without one it borrows Tortoise's
default connection. Nothing here loads a whole segment into memory.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from segmentation.catalog import load_catalog
from segmentation.compile import CompiledSegment, compile_definition
from segmentation.validate import ResolveSegment, prepare_segment

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PARAM = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class MemberPage:
    """One page of member ids in ascending order; pass `end_cursor` as `after` for the next."""

    contact_ids: list[int]
    has_next_page: bool
    end_cursor: int | None


@asynccontextmanager
async def connection(conn: Any = None):
    """The given asyncpg connection, or one borrowed from Tortoise's default pool."""
    if conn is not None:
        yield conn
        return
    from tortoise import connections

    async with connections.get("default").acquire_connection() as borrowed:
        yield borrowed


async def count_members(compiled: CompiledSegment, *, conn: Any = None) -> int:
    """How many contacts are in the segment."""
    async with connection(conn) as c:
        return await c.fetchval(f"SELECT count(*) FROM ({compiled.sql}) s", *compiled.params)


async def preview_members(
    compiled: CompiledSegment, first: int = 50, after: int | None = None, *, conn: Any = None
) -> MemberPage:
    """A page of member ids after contact id `after` (keyset pagination on contact id)."""
    if not 0 < first <= 10_000:
        raise ValueError("first must be between 1 and 10000")
    params = [*compiled.params, after if after is not None else -1, first + 1]
    n = len(compiled.params)
    sql = (
        f"SELECT s.contact_id FROM ({compiled.sql}) s WHERE s.contact_id > ${n + 1}::bigint"
        f" ORDER BY s.contact_id LIMIT ${n + 2}::bigint"
    )
    async with connection(conn) as c:
        rows = await c.fetch(sql, *params)
    ids = [r[0] for r in rows[:first]]
    return MemberPage(ids, len(rows) > first, ids[-1] if ids else None)


async def stream_member_ids(
    compiled: CompiledSegment, batch_size: int = 10_000, *, conn: Any = None
) -> AsyncIterator[list[int]]:
    """Every member id, in batches, through a server-side cursor (constant memory)."""
    async with connection(conn) as c, c.transaction():
        cursor = await c.cursor(compiled.sql, *compiled.params)
        while batch := await cursor.fetch(batch_size):
            yield [r[0] for r in batch]


def member_subquery(compiled: CompiledSegment, param_offset: int = 0) -> str:
    """The statement as `(SELECT ... contact_id ...)` with `$n` shifted by `param_offset`,
    to embed in a statement that already has `param_offset` parameters of its own."""
    return f"({shift_params(compiled.sql, param_offset)})"


def shift_params(sql: str, offset: int) -> str:
    """Renumber `$n` placeholders to `$(n + offset)`."""
    if offset == 0:
        return sql
    return _PARAM.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


def insert_members_sql(
    compiled: CompiledSegment,
    table: str,
    *,
    contact_column: str = "contact_id",
    constants: Mapping[str, tuple[Any, str]] | None = None,
    conflict_columns: Sequence[str] | None = None,
) -> tuple[str, list[Any]]:
    """`INSERT INTO table (constants..., contact_column) SELECT ...` for every member.

    `table` and column names come from code (checked as plain identifiers); `constants`
    maps a column to (value, PostgreSQL type), each bound as a parameter. With
    `conflict_columns`, rows already there are skipped (ON CONFLICT (...) DO NOTHING).
    """
    constants = dict(constants or {})
    names = [table, contact_column, *constants, *(conflict_columns or [])]
    for name in names:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")
    params = list(compiled.params)
    selects = []
    for value, pg_type in constants.values():
        if not _IDENTIFIER.match(pg_type.replace("[]", "")):
            raise ValueError(f"not a type name: {pg_type!r}")
        params.append(value)
        selects.append(f"${len(params)}::{pg_type}")
    columns = ", ".join([*constants, contact_column])
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {', '.join([*selects, 's.contact_id'])}"
        f" FROM ({compiled.sql}) s"
    )
    if conflict_columns:
        sql += f" ON CONFLICT ({', '.join(conflict_columns)}) DO NOTHING"
    return sql, params


async def compile_for_database(
    data: Any,
    database_id: int,
    as_of: dt.datetime,
    *,
    resolve_segment: ResolveSegment | None = None,
    max_depth: int = 12,
    max_nodes: int = 200,
    segment_id: int | None = None,
) -> CompiledSegment:
    """Load the catalog, validate (raises InvalidSegment) and compile a JSON definition."""
    catalog = await load_catalog(database_id)
    segment = await prepare_segment(
        data,
        catalog,
        resolve_segment=resolve_segment,
        max_depth=max_depth,
        max_nodes=max_nodes,
        segment_id=segment_id,
    )
    return compile_definition(segment, catalog, as_of)


async def count_definition(
    data: Any,
    database_id: int,
    as_of: dt.datetime | None = None,
    *,
    resolve_segment: ResolveSegment | None = None,
    max_depth: int = 12,
    max_nodes: int = 200,
    conn: Any = None,
) -> int:
    """Live count of a definition that is not saved yet (raises InvalidSegment)."""
    compiled = await compile_for_database(
        data,
        database_id,
        as_of or dt.datetime.now(dt.UTC),
        resolve_segment=resolve_segment,
        max_depth=max_depth,
        max_nodes=max_nodes,
    )
    return await count_members(compiled, conn=conn)
