"""Event panels: events per category and per type over the time frame, at a chosen grain."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from segmentation.dashboards.context import PanelContext, statement
from segmentation.dashboards.model import Grain, Panel, PanelKind, Point, Series


def bucket_start(day: date, grain: Grain) -> date:
    """The first day of the bucket holding `day` (like PostgreSQL's `date_trunc`)."""
    if grain is Grain.DAY:
        return day
    if grain is Grain.MONTH:
        return day.replace(day=1)
    if grain is Grain.QUARTER:
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)


def next_bucket(start: date, grain: Grain) -> date:
    if grain is Grain.DAY:
        return start + timedelta(days=1)
    if grain is Grain.YEAR:
        return date(start.year + 1, 1, 1)
    months = start.year * 12 + start.month - 1 + (1 if grain is Grain.MONTH else 3)
    return date(months // 12, months % 12 + 1, 1)


def bucket_label(start: date, grain: Grain) -> str:
    if grain is Grain.DAY:
        return start.isoformat()
    if grain is Grain.MONTH:
        return f"{start.year:04d}-{start.month:02d}"
    if grain is Grain.QUARTER:
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year:04d}"


def buckets(ctx: PanelContext) -> list[date]:
    """Every bucket of the time frame, in order (empty ones included)."""
    grain = ctx.options.grain
    start, end = ctx.window
    first = bucket_start(start.astimezone(ctx.zone).date(), grain)
    last = bucket_start((end - timedelta(microseconds=1)).astimezone(ctx.zone).date(), grain)
    days, day = [], first
    while day <= last:
        days.append(day)
        day = next_bucket(day, grain)
    return days


def events_sql(ctx: PanelContext) -> tuple[str, list[Any]]:
    """Events per (local time bucket, event type) of the scope's contacts in the time frame."""
    p = ctx.scope.params()
    sql = f"""
    SELECT date_trunc({p.add(str(ctx.options.grain), "text")},
                      e.occurred_at AT TIME ZONE {p.add(ctx.timezone, "text")})::date AS bucket,
           e.event_type_id AS type_id, count(*) AS n
    FROM event e
    WHERE {ctx.scope.event_filter(p)}
      AND {ctx.window_filter(p, "e.occurred_at")}
    GROUP BY 1, 2"""
    return sql, p.values


async def events_panels(conn: Any, ctx: PanelContext) -> list[Panel]:
    """Two line charts from one scan: events per category and events per type."""
    types = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, key, category FROM catalog_event_type WHERE database_id = $1::int"
            " ORDER BY key",
            ctx.scope.database_id,
        )
    }
    by_type: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    by_category: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for row in await conn.fetch(*statement(events_sql(ctx))):
        event_type = types[row["type_id"]]
        by_type[event_type["key"]][row["bucket"]] += row["n"]
        by_category[event_type["category"]][row["bucket"]] += row["n"]
    days = buckets(ctx)
    grain = ctx.options.grain

    def series(counts: dict[str, dict[date, int]]) -> tuple[Series, ...]:
        return tuple(
            Series(name, tuple(Point(bucket_label(d, grain), float(per[d])) for d in days))
            for name, per in sorted(counts.items())
        )

    return [
        Panel("events_by_category", "Events per category", PanelKind.LINE,
              series(by_category), "events", ctx.computed_at),
        Panel("events_by_type", "Events per type", PanelKind.LINE,
              series(by_type), "events", ctx.computed_at),
    ]  # fmt: skip
