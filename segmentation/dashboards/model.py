"""The typed result of a dashboard: panels of labelled series, and the options that shape them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any


class PanelKind(StrEnum):
    BAR = "bar"
    LINE = "line"
    PIE = "pie"
    HISTOGRAM = "histogram"


class Grain(StrEnum):
    """Time bucket of the event panels (a PostgreSQL `date_trunc` unit)."""

    DAY = "day"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class DashboardError(ValueError):
    """Bad dashboard input: `path` names the option at fault (e.g. `fieldKeys[1]`)."""

    def __init__(self, path: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Point:
    label: str
    value: float


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Panel:
    """One chart: series of labelled values, plus scalar figures (`summary`) such as a lift."""

    key: str
    title: str
    kind: PanelKind
    series: tuple[Series, ...]
    unit: str
    computed_at: datetime
    summary: tuple[Point, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        data["computed_at"] = self.computed_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Panel:
        return cls(
            key=data["key"],
            title=data["title"],
            kind=PanelKind(data["kind"]),
            series=tuple(
                Series(s["name"], tuple(Point(p["label"], p["value"]) for p in s["points"]))
                for s in data["series"]
            ),
            unit=data["unit"],
            computed_at=datetime.fromisoformat(data["computed_at"]),
            summary=tuple(Point(p["label"], p["value"]) for p in data["summary"]),
        )


@dataclass(frozen=True)
class DashboardOptions:
    """What a dashboard shows. Dates are local days of the database's time zone."""

    since: date | None = None  # first day of the time frame; default: 11 months before as_of's
    until: date | None = None  # day after the time frame (exclusive); default: up to as_of
    grain: Grain = Grain.MONTH
    top_n: int = 10  # countries, cities, categories, categorical field values
    age_bands: tuple[int, ...] = (18, 25, 35, 45, 55, 65)  # lower bounds of the bands
    spend_bands: tuple[float, ...] = (50, 100, 250, 500, 1000, 2500)
    order_bands: tuple[int, ...] = (1, 2, 3, 4, 6, 11)  # lower bounds of purchase counts
    field_keys: tuple[str, ...] = ()  # catalog fields to chart
    histogram_bins: int = 10
    plan_id: int | None = None  # influenced purchases of this plan's runs
    influence_days: int = 7
    size_days: int = 90  # size over time: days back from as_of

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("since", "until"):
            data[key] = data[key].isoformat() if data[key] else None
        data["grain"] = str(self.grain)
        data["age_bands"] = list(self.age_bands)
        data["spend_bands"] = [float(v) for v in self.spend_bands]
        data["order_bands"] = list(self.order_bands)
        data["field_keys"] = list(self.field_keys)
        return data

    def validate(self) -> None:
        """Raise DashboardError naming the first bad option."""
        if self.since and self.until and self.since >= self.until:
            raise DashboardError("until", "must be after since")
        if not 1 <= self.top_n <= 100:
            raise DashboardError("topN", "must be between 1 and 100")
        if not 1 <= self.histogram_bins <= 100:
            raise DashboardError("histogramBins", "must be between 1 and 100")
        if not 0 <= self.influence_days <= 366:
            raise DashboardError("influenceDays", "must be between 0 and 366")
        if not 1 <= self.size_days <= 3660:
            raise DashboardError("sizeDays", "must be between 1 and 3660")
        for name, bands in (
            ("ageBands", self.age_bands),
            ("spendBands", self.spend_bands),
            ("orderBands", self.order_bands),
        ):
            if not bands or len(bands) > 50:
                raise DashboardError(name, "needs between 1 and 50 bounds")
            if any(b >= a for b, a in pairwise(bands)) or bands[0] < 0:
                raise DashboardError(name, "bounds must be non-negative and increasing")
        if len(self.field_keys) > 20:
            raise DashboardError("fieldKeys", "at most 20 fields")
        for i, key in enumerate(self.field_keys):
            if key in self.field_keys[:i]:
                raise DashboardError(f"fieldKeys[{i}]", f"field {key!r} is listed twice")


@dataclass(frozen=True)
class Dashboard:
    database_id: int
    segment_id: int | None
    as_of: datetime
    options: DashboardOptions
    panels: tuple[Panel, ...]
    computed_at: datetime
    from_cache: bool = False

    def panel(self, key: str) -> Panel:
        """The panel with this key (KeyError if the dashboard has none)."""
        for p in self.panels:
            if p.key == key:
                return p
        raise KeyError(key)
