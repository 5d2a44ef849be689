"""Compute a dashboard: every panel's SQL at once, each on its own pooled connection; cached."""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tortoise import connections

from segmentation.dashboards import demographics, events, fields, influence, size, spending
from segmentation.dashboards.cache import DashboardCache, definition_hash
from segmentation.dashboards.context import EventTypeInfo, PanelContext, PanelJob
from segmentation.dashboards.member_tables import new_table_name
from segmentation.dashboards.model import Dashboard, DashboardError, DashboardOptions, Panel
from segmentation.dashboards.sql import CompiledSql, Scope

# Per transaction: no JIT (compiling costs more than it saves here); room to hash grouping sets.
SESSION = (
    "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; SET LOCAL hash_mem_multiplier = 4;"
    " SET LOCAL statement_timeout = '120s'"  # a runaway panel must not hold the database
)

MAX_BUCKETS = 1000  # time buckets of the event panels


def panel_jobs(ctx: PanelContext, catalog_fields: Sequence[fields.CatalogField]) -> list[PanelJob]:
    """The dashboard's panel jobs in display order."""
    jobs: list[PanelJob] = [
        demographics.demographics_panels,
        events.events_panels,
        spending.spending_panels,
        spending.top_categories_panel,
    ]
    jobs += [functools.partial(fields.field_panel, field=f) for f in catalog_fields]
    if ctx.options.plan_id is not None:
        jobs.append(influence.influence_panel)
    if ctx.segment_id is not None:
        jobs.append(size.size_panel)
    return jobs


async def compute_dashboard(
    database_id: int,
    members: CompiledSql | tuple[str, Sequence[Any]] | None,
    *,
    as_of: datetime,
    options: DashboardOptions | None = None,
    force: bool = False,
    cache: DashboardCache | None = None,
    segment_id: int | None = None,
    definition: Any = None,
    max_parallel: int = 4,
    connection: str = "default",
    per_member: bool | None = None,
) -> Dashboard:
    """The dashboard of a member set (`members`: SQL selecting `contact_id`, and its `$n`
    parameters) or of the whole database (`members=None`).

    Cached under the database, segment, `definition` (default: the member SQL and parameters),
    options and the as-of day; `force` recomputes and replaces the cached copy. `per_member`
    forces how a member set's rows are read: looked up member by member (True) or scanned
    (False); None chooses per panel by its share of the database (`sql.*_LOOKUP_SHARE`).
    """
    options = options or DashboardOptions()
    options.validate()
    if as_of.tzinfo is None:
        raise DashboardError("asOf", "needs a time zone")
    client = connections.get(connection)
    ctx = PanelContext(
        scope=Scope.of(database_id, members),
        timezone=await _timezone(client, database_id),
        as_of=as_of,
        options=options,
        computed_at=datetime.now(UTC),
        segment_id=segment_id,
    )
    _check_time_frame(ctx)
    key = None
    if cache is not None:
        scope = ctx.scope
        identity = [scope.member_sql, scope.member_params] if definition is None else definition
        digest = definition_hash(identity)
        key = cache.key(database_id, segment_id, digest, options, ctx.local_today)
        hit = None if force else await cache.get(key)
        if hit is not None:
            computed_at, panels = hit
            return Dashboard(
                database_id, segment_id, as_of, options, tuple(panels), computed_at, True
            )
    async with client.acquire_connection() as conn:
        catalog_fields = await fields.load_fields(conn, database_id, options.field_keys)
        if options.plan_id is not None:
            await _check_plan(conn, database_id, options.plan_id)
        event_types = await conn.fetch(
            "SELECT id, key, category FROM catalog_event_type WHERE database_id = $1::int"
            " ORDER BY key",
            database_id,
        )
    ctx = replace(ctx, event_types=tuple(EventTypeInfo(*row) for row in event_types))
    panels = await run_jobs(client, panel_jobs(ctx, catalog_fields), ctx, max_parallel, per_member)
    if cache is not None and key is not None:
        await cache.put(key, ctx.computed_at, panels)
    return Dashboard(database_id, segment_id, as_of, options, tuple(panels), ctx.computed_at)


async def run_jobs(
    client: Any,
    jobs: list[PanelJob],
    ctx: PanelContext,
    max_parallel: int,
    per_member: bool | None = None,
) -> list[Panel]:
    """Run the jobs on up to `max_parallel` connections of the pool at once.

    Each worker holds one connection in one transaction and takes jobs in turn. A member set
    is first written once into a shared member table (the segment's SQL runs once), which
    every worker reads and which is dropped at the end; `per_member` (None: by its share of
    the database) chooses how panels read the members' rows (see `Scope.looks_up`).
    """
    if ctx.scope.member_sql is None:
        return await _run(client, jobs, ctx, max_parallel)
    table = new_table_name()
    try:
        scope = await _materialize(client, ctx.scope, table, per_member)
        return await _run(client, jobs, replace(ctx, scope=scope), max_parallel)
    finally:
        async with client.acquire_connection() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table}")


async def _run(
    client: Any, jobs: list[PanelJob], ctx: PanelContext, max_parallel: int
) -> list[Panel]:
    queue = list(range(len(jobs)))  # display order: the heavy scans come first
    results: dict[int, list[Panel]] = {}

    async def worker() -> None:
        async with client.acquire_connection() as conn, conn.transaction():
            await conn.execute(SESSION)
            while queue:
                i = queue.pop(0)
                results[i] = await jobs[i](conn, ctx)

    try:
        async with asyncio.TaskGroup() as group:  # one failure cancels the other workers
            for _ in range(min(max_parallel, len(jobs))):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0]  # noqa: B904 - the panel's own error, as if awaited alone
    return [panel for i in range(len(jobs)) for panel in results[i]]


async def _materialize(client: Any, scope: Scope, table: str, per_member: bool | None) -> Scope:
    """Write the member set, sorted, into a new UNLOGGED `table`; the scope reading it.

    Committed so that every worker's connection sees it; the caller drops it.
    """
    async with client.acquire_connection() as conn:
        async with conn.transaction():
            await conn.execute(SESSION)
            status = await conn.execute(
                f"CREATE UNLOGGED TABLE {table} AS SELECT DISTINCT contact_id"
                f" FROM ({scope.member_sql}) m ORDER BY contact_id",
                *scope.member_params,
            )
        await conn.execute(f"ANALYZE {table}")  # row count and distinct ids: good join plans
        if per_member is None:
            members = int(status.split()[-1])
            share = members / max(1.0, await _contacts_estimate(conn, scope))
        else:
            share = 0.0 if per_member else math.inf
    return scope.materialized(table, share)


async def _contacts_estimate(conn: Any, scope: Scope) -> float:
    """The planner's estimate of the database's contact count (no scan)."""
    plan = await conn.fetchval(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM contact c WHERE c.database_id = $1::int",
        scope.database_id,
    )
    return float(json.loads(plan)[0]["Plan"]["Plan Rows"])


async def _timezone(client: Any, database_id: int) -> str:
    rows = await client.execute_query_dict(
        "SELECT timezone FROM contact_database WHERE id = $1::int", [database_id]
    )
    if not rows:
        raise DashboardError("databaseId", f"no contact database {database_id}", "not_found")
    timezone = rows[0]["timezone"]
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DashboardError("databaseId", f"unknown time zone {timezone!r}") from error
    return timezone


def _check_time_frame(ctx: PanelContext) -> None:
    start, end = ctx.window
    if start >= end:
        raise DashboardError("since", "the time frame must start before it ends (or the as-of)")
    if len(events.buckets(ctx)) > MAX_BUCKETS:
        raise DashboardError("grain", f"more than {MAX_BUCKETS} time buckets: use a coarser grain")


async def _check_plan(conn: Any, database_id: int, plan_id: int) -> None:
    found = await conn.fetchval(
        "SELECT 1 FROM plan WHERE id = $1::int AND database_id = $2::int", plan_id, database_id
    )
    if not found:
        raise DashboardError("planId", f"no plan {plan_id} in this database", "not_found")
