"""Event panels: events per category and per type over the time frame, at a chosen grain."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from segmentation.dashboards.context import PanelContext, statement
from segmentation.dashboards.model import Grain, Panel, PanelKind, Point, Series
from segmentation.dashboards.sql import EVENT_LOOKUP_SHARE


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


def bucket_bounds(ctx: PanelContext, days: list[date]) -> tuple[list[datetime], list[datetime]]:
    """Start and end instants of each bucket: local midnights, clipped to the time frame."""
    start, end = ctx.window
    starts = [max(start, datetime.combine(d, time(), tzinfo=ctx.zone)) for d in days]
    return starts, [*starts[1:], end]


def events_sql(ctx: PanelContext, days: list[date]) -> tuple[str, list[Any]]:
    """Events per (event type, bucket number 1..n) of the scope's contacts in the time frame.

    The whole database counts each (type, bucket) range on the (type, time) index; a member
    set reads its members' events (see `Scope.events`) and numbers buckets with `width_bucket`.
    """
    p = ctx.scope.params()
    starts, ends = bucket_bounds(ctx, days)
    types = p.add([t.id for t in ctx.event_types], "int[]")
    if ctx.scope.member_sql is None:
        sql = f"""
        SELECT t.type_id, b.i::int AS bucket,
               (SELECT count(*) FROM event e WHERE e.event_type_id = t.type_id
                  AND e.occurred_at >= b.s AND e.occurred_at < b.e) AS n
        FROM unnest({types}) AS t(type_id),
             unnest({p.add(starts, "timestamptz[]")}, {p.add(ends, "timestamptz[]")})
               WITH ORDINALITY AS b(s, e, i)"""
    else:
        in_frame = f"e.event_type_id = ANY({types}) AND {ctx.window_filter(p, 'e.occurred_at')}"
        sql = f"""
        SELECT e.event_type_id AS type_id,
               width_bucket(e.occurred_at, {p.add(starts, "timestamptz[]")}) AS bucket,
               count(*) AS n
        FROM {ctx.scope.events(("event_type_id", "occurred_at"), in_frame, EVENT_LOOKUP_SHARE)}
        GROUP BY 1, 2"""
    return sql, p.values


async def events_panels(conn: Any, ctx: PanelContext) -> list[Panel]:
    """Two line charts from one query: events per category and events per type."""
    days = buckets(ctx)
    types = {t.id: t for t in ctx.event_types}
    by_type: dict[str, list[int]] = {}
    by_category: dict[str, list[int]] = {}
    for row in await conn.fetch(*statement(events_sql(ctx, days))):
        if not row["n"]:
            continue
        event_type = types[row["type_id"]]
        for counts, name in ((by_type, event_type.key), (by_category, event_type.category)):
            counts.setdefault(name, [0] * len(days))[row["bucket"] - 1] += row["n"]
    labels = [bucket_label(d, ctx.options.grain) for d in days]

    def series(counts: dict[str, list[int]]) -> tuple[Series, ...]:
        return tuple(
            Series(
                name, tuple(Point(label, float(n)) for label, n in zip(labels, per, strict=True))
            )
            for name, per in sorted(counts.items())
        )

    return [
        Panel("events_by_category", "Events per category", PanelKind.LINE,
              series(by_category), "events", ctx.computed_at),
        Panel("events_by_type", "Events per type", PanelKind.LINE,
              series(by_type), "events", ctx.computed_at),
    ]  # fmt: skip
