"""What every panel of one dashboard shares: scope, time zone, as-of, time frame, options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import pairwise
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from segmentation.dashboards.model import DashboardOptions, Panel, PanelKind, Point, Series
from segmentation.dashboards.sql import Scope
from segmentation.params import Params

OTHER = "other"
UNKNOWN = "unknown"


class EventTypeInfo(NamedTuple):
    id: int
    key: str
    category: str


@dataclass(frozen=True)
class PanelContext:
    scope: Scope
    timezone: str
    as_of: datetime
    options: DashboardOptions
    computed_at: datetime
    segment_id: int | None = None
    event_types: tuple[EventTypeInfo, ...] = ()  # the database's, by key

    def event_type_id(self, key: str) -> int | None:
        """Id of the database's event type `key` (None if its catalog has none)."""
        return next((t.id for t in self.event_types if t.key == key), None)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_today(self) -> date:
        """The as-of day in the database's time zone (ages resolve against it)."""
        return self.as_of.astimezone(self.zone).date()

    @property
    def since(self) -> date:
        if self.options.since:
            return self.options.since
        today = self.local_today
        months = today.year * 12 + today.month - 1 - 11
        return date(months // 12, months % 12 + 1, 1)

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The time frame as instants: local midnight of `since` up to `until` (or as-of)."""
        start = datetime.combine(self.since, time(), tzinfo=self.zone)
        if self.options.until:
            return start, datetime.combine(self.options.until, time(), tzinfo=self.zone)
        return start, self.as_of

    def window_filter(self, p: Params, column: str) -> str:
        """`column` (a timestamptz) within the time frame."""
        start, end = self.window
        low, high = p.add(start, "timestamptz"), p.add(end, "timestamptz")
        return f"{column} >= {low} AND {column} < {high}"


# A panel job: given a connection of its own and the context, the panels it produces.
PanelJob = Callable[[Any, PanelContext], Awaitable[list[Panel]]]


def number(value: Any) -> float:
    """A JSON/GraphQL-friendly number from a database value (Decimal, int, None)."""
    return 0.0 if value is None else float(value)


def band_labels(bounds: tuple[float, ...], *, integer: bool, below: bool = True) -> list[str]:
    """Labels of `width_bucket(x, bounds)` buckets 0..len(bounds): `< a`, `a-b`, ..., `z+`."""

    def show(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    labels = [f"< {show(bounds[0])}"] if below else []
    for lo, hi in pairwise(bounds):
        if integer and hi - lo == 1:
            labels.append(show(lo))
        elif integer:
            labels.append(f"{show(lo)}-{show(hi - 1)}")
        else:
            labels.append(f"{show(lo)}-{show(hi)}")
    labels.append(f"{show(bounds[-1])}+")
    return labels


def statement(query: tuple[str, list[Any]]) -> tuple[Any, ...]:
    """(sql, params) as the positional arguments of asyncpg's `fetch`."""
    sql, params = query
    return (sql, *params)


def one_series_panel(
    ctx: PanelContext,
    key: str,
    title: str,
    kind: PanelKind,
    points: list[Point],
    unit: str,
    *,
    name: str = "contacts",
    summary: list[Point] | None = None,
) -> Panel:
    """A panel with a single series."""
    series = (Series(name, tuple(points)),)
    return Panel(key, title, kind, series, unit, ctx.computed_at, tuple(summary or ()))


async def top_rows(conn: Any, query: tuple[str, list[Any]]) -> list[Point]:
    """Points of a `top_values_sql` query: the top labels, then `other`, then `unknown`."""
    rows = await conn.fetch(*statement(query))
    names = {0: None, 1: OTHER, 2: UNKNOWN}
    return [Point(names[r["part"]] or str(r["label"]), number(r["n"])) for r in rows]
