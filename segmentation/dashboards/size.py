"""Size over time: a daily snapshot of a segment's count, and the series of those snapshots."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tortoise import connections

from segmentation.dashboards.context import PanelContext, number, one_series_panel
from segmentation.dashboards.model import Panel, PanelKind, Point

UPSERT_SNAPSHOT = """
INSERT INTO segment_count_snapshot (segment_id, day, count, taken_at)
VALUES ($1::int, $2::date, $3::bigint, now())
ON CONFLICT (segment_id, day) DO UPDATE SET count = EXCLUDED.count, taken_at = EXCLUDED.taken_at"""

SNAPSHOTS = """
SELECT day, count FROM segment_count_snapshot
WHERE segment_id = $1::int AND day >= $2::date AND day <= $3::date ORDER BY day"""


async def take_snapshot(segment_id: int, day: date, count: int) -> None:
    """Record the segment's count on `day` (a later snapshot of the same day replaces it)."""
    await connections.get("default").execute_query(UPSERT_SNAPSHOT, [segment_id, day, count])


async def size_panel(conn: Any, ctx: PanelContext) -> list[Panel]:
    """The segment's snapshots of the last `size_days` days up to the as-of day (gaps stay gaps)."""
    last = ctx.local_today
    first = last - timedelta(days=ctx.options.size_days - 1)
    rows = await conn.fetch(SNAPSHOTS, ctx.segment_id, first, last)
    points = [Point(r["day"].isoformat(), number(r["count"])) for r in rows]
    return [one_series_panel(ctx, "size_over_time", "Size over time", PanelKind.LINE, points,
                             "contacts")]  # fmt: skip
