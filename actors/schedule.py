"""Plan schedules: a JSON spec (stored in `plan.schedule`), its validation and its occurrences.

Spec (every key but `kind`, `start` and `time` optional)::

    {"kind": "once" | "daily" | "weekly" | "monthly",
     "start": "2026-12-01", "time": "09:00", "timezone": "Europe/Rome",
     "every": 1,                      # daily: every N days; weekly: every N weeks
     "weekdays": ["mon", "thu"],      # weekly (default: the start's weekday)
     "months": [1, 2, ..., 12],       # monthly (default: every month)
     "days": [1, 15, 31],             # monthly (default: the start's day of month)
     "end": {"kind": "never"} | {"kind": "after", "count": 10} | {"kind": "on", "date": "..."}}

Rules:
- Occurrences are local wall-clock times in the schedule's time zone: 09:00 Europe/Rome stays
  09:00 in winter and summer.
- A local time that does not exist (spring-forward gap) is shifted forward by the gap
  (02:30 on the last Sunday of March in Europe/Rome runs at 03:30 CEST); an ambiguous local
  time (fall-back) runs at its first occurrence (the earlier instant, summer time).
- Monthly dates that do not exist (30 February, 31 April) are skipped.
- A recurrence ends never (then: the runs within one year of the start), after N runs, or on
  a date (inclusive). More than 365 runs, or an end more than one year after the start, is
  refused with an error.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_RUNS = 365
PREVIEW_SIZE = 10
KINDS = ("once", "daily", "weekly", "monthly")
END_KINDS = ("never", "after", "on")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^(\d{2}):(\d{2})$")

ScheduleKind = Literal["once", "daily", "weekly", "monthly"]
EndKind = Literal["never", "after", "on"]


@dataclass(frozen=True)
class ScheduleError:
    """One thing wrong with a schedule spec: where, what, and a stable code."""

    path: str
    message: str
    code: str


class InvalidSchedule(ValueError):
    """A schedule spec with one or more errors."""

    def __init__(self, errors: list[ScheduleError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class End:
    """When a recurrence stops: never (one year at most), after `count` runs, or on `date`."""

    kind: EndKind = "never"
    count: int | None = None
    date: date | None = None


@dataclass(frozen=True)
class Schedule:
    """A validated schedule. Build it with `parse_schedule`; store `to_json()`."""

    kind: ScheduleKind
    start: date
    time: time
    timezone: str
    every: int = 1
    weekdays: tuple[int, ...] = ()  # 0 = Monday
    months: tuple[int, ...] = ()  # 1..12
    days: tuple[int, ...] = ()  # 1..31
    end: End = field(default_factory=End)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_json(self) -> dict[str, Any]:
        """The normalised JSON spec (what `parse_schedule` reads back to an equal Schedule)."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "time": self.time.strftime("%H:%M"),
            "timezone": self.timezone,
        }
        if self.kind in ("daily", "weekly"):
            data["every"] = self.every
        if self.kind == "weekly":
            data["weekdays"] = [WEEKDAYS[d] for d in self.weekdays]
        if self.kind == "monthly":
            data["months"] = list(self.months)
            data["days"] = list(self.days)
        if self.kind != "once":
            end: dict[str, Any] = {"kind": self.end.kind}
            if self.end.kind == "after":
                end["count"] = self.end.count
            elif self.end.kind == "on" and self.end.date is not None:
                end["date"] = self.end.date.isoformat()
            data["end"] = end
        return data


class Preview(NamedTuple):
    """The next occurrences after a moment and the schedule's total number of runs."""

    next: list[datetime]
    total: int


def parse_schedule(
    data: Any,
    *,
    default_timezone: str,
    now: datetime | None = None,
    path: str = "schedule",
) -> Schedule:
    """Validate a JSON spec; raise `InvalidSchedule` listing every error with its path.

    `default_timezone` (the contact database's time zone) applies when the spec has none.
    With `now`, a schedule with no occurrence after `now` is refused (`in_past`).
    """
    parser = _Parser(path)
    schedule = parser.parse(data, default_timezone)
    if schedule is not None and not parser.errors:
        parser.check_bounds(schedule, now)
    if parser.errors or schedule is None:
        raise InvalidSchedule(parser.errors)
    return schedule


def occurrences(
    schedule: Schedule, after: datetime | None = None, limit: int | None = None
) -> list[datetime]:
    """The schedule's run times (UTC) strictly after `after`, in order, at most `limit`."""
    result: list[datetime] = []
    for moment in _runs(schedule):
        if after is not None and moment <= after:
            continue
        if limit is not None and len(result) >= limit:
            break
        result.append(moment)
    return result


def next_occurrence(schedule: Schedule, after: datetime) -> datetime | None:
    """The first run strictly after `after`, or None when the schedule is over."""
    found = occurrences(schedule, after, limit=1)
    return found[0] if found else None


def preview(schedule: Schedule, now: datetime, size: int = PREVIEW_SIZE) -> Preview:
    """The next `size` runs after `now` and the total number of runs of the schedule."""
    return Preview(next=occurrences(schedule, now, limit=size), total=count_runs(schedule))


def count_runs(schedule: Schedule) -> int:
    """How many runs the schedule has from its start to its end (at most 365)."""
    return sum(1 for _ in _runs(schedule))


def one_year_after(day: date) -> date:
    """The same calendar day a year later (29 February -> 28 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as UTC: gaps shift forward by the gap, ambiguity takes the first.

    zoneinfo with fold=0 does exactly that (PEP 495): a missing time is read with the offset
    in force before the transition, an ambiguous time with the earlier (pre-transition) offset.
    """
    return datetime.combine(day, wall, tzinfo=zone).replace(fold=0).astimezone(UTC)


# --- occurrences -----------------------------------------------------------------------------


def _runs(schedule: Schedule) -> Iterator[datetime]:
    """Every run in order, bounded by the end rule, one year and 365 runs."""
    zone = schedule.zone
    cap = MAX_RUNS
    if schedule.end.kind == "after" and schedule.end.count is not None:
        cap = min(cap, schedule.end.count)
    for n, day in enumerate(_local_days(schedule)):
        if n >= cap:
            return
        yield to_utc(day, schedule.time, zone)


def _last_day(schedule: Schedule) -> date:
    """The last local date a run may fall on."""
    if schedule.end.kind == "on" and schedule.end.date is not None:
        return schedule.end.date
    return one_year_after(schedule.start) - timedelta(days=1)


def _local_days(schedule: Schedule) -> Iterator[date]:
    """The local dates of the runs, in order, up to the last allowed date."""
    if schedule.kind == "once":
        yield schedule.start
        return
    last = _last_day(schedule)
    days = {"daily": _daily, "weekly": _weekly, "monthly": _monthly}[schedule.kind]
    for day in days(schedule, last):
        if day >= schedule.start:
            yield day


def _daily(schedule: Schedule, last: date) -> Iterator[date]:
    day = schedule.start
    while day <= last:
        yield day
        day += timedelta(days=schedule.every)


def _weekly(schedule: Schedule, last: date) -> Iterator[date]:
    monday = schedule.start - timedelta(days=schedule.start.weekday())
    while monday <= last:
        for weekday in schedule.weekdays:
            day = monday + timedelta(days=weekday)
            if day <= last:
                yield day
        monday += timedelta(weeks=schedule.every)


def _monthly(schedule: Schedule, last: date) -> Iterator[date]:
    year, month = schedule.start.year, schedule.start.month
    while date(year, month, 1) <= last:
        if month in schedule.months:
            length = calendar.monthrange(year, month)[1]
            for day_of_month in schedule.days:
                if day_of_month <= length and date(year, month, day_of_month) <= last:
                    yield date(year, month, day_of_month)  # 30 February, 31 April: skipped
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


# --- parsing ---------------------------------------------------------------------------------


class _Parser:
    """Collects every error of a spec instead of stopping at the first."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.errors: list[ScheduleError] = []

    def error(self, path: str, message: str, code: str) -> None:
        full = f"{self.root}.{path}" if path else self.root
        self.errors.append(ScheduleError(full, message, code))

    def parse(self, data: Any, default_timezone: str) -> Schedule | None:
        if not isinstance(data, dict):
            self.error("", "must be an object", "invalid")
            return None
        allowed = {"kind", "start", "time", "timezone", "every", "weekdays", "months", "days"}
        for key in sorted(set(data) - allowed - {"end"}):
            self.error(key, f"unknown key {key!r}", "unknown_key")
        kind = data.get("kind")
        if kind not in KINDS:
            self.error("kind", f"must be one of {', '.join(KINDS)}", "invalid")
            return None
        start = self.date(data.get("start"), "start", required=True)
        wall = self.time(data.get("time"))
        timezone = self.timezone(data.get("timezone") or default_timezone)
        self.only_for(data, kind, "every", ("daily", "weekly"))
        self.only_for(data, kind, "weekdays", ("weekly",))
        self.only_for(data, kind, "months", ("monthly",))
        self.only_for(data, kind, "days", ("monthly",))
        self.only_for(data, kind, "end", ("daily", "weekly", "monthly"))
        every = self.integer(data.get("every", 1), "every", 1, 52)
        end = self.end(data.get("end", {"kind": "never"}), start) if kind != "once" else End()
        weekdays: tuple[int, ...] = ()
        months: tuple[int, ...] = ()
        days: tuple[int, ...] = ()
        if kind == "weekly":
            default = [WEEKDAYS[start.weekday() if start else 0]]
            weekdays = self.weekdays(data.get("weekdays", default))
        if kind == "monthly":
            months = self.numbers(data.get("months", list(range(1, 13))), "months", 1, 12)
            days = self.numbers(data.get("days", [start.day if start else 1]), "days", 1, 31)
        if self.errors or start is None or wall is None or timezone is None:
            return None
        if every is None or end is None:
            return None
        return Schedule(kind, start, wall, timezone, every, weekdays, months, days, end)

    def only_for(self, data: dict, kind: str, key: str, kinds: tuple[str, ...]) -> None:
        if key in data and kind not in kinds:
            self.error(key, f"only applies to {' or '.join(kinds)} schedules", "not_allowed")

    def date(self, value: Any, path: str, *, required: bool = False) -> date | None:
        if value is None:
            if required:
                self.error(path, "is required (YYYY-MM-DD)", "required")
            return None
        try:
            if isinstance(value, str):
                return date.fromisoformat(value)
        except ValueError:
            pass
        self.error(path, f"must be a date YYYY-MM-DD, got {value!r}", "invalid")
        return None

    def time(self, value: Any) -> time | None:
        if value is None:
            self.error("time", "is required (HH:MM)", "required")
            return None
        match = _TIME.match(value) if isinstance(value, str) else None
        if match and int(match[1]) <= 23 and int(match[2]) <= 59:
            return time(int(match[1]), int(match[2]))
        self.error("time", f"must be a time HH:MM from 00:00 to 23:59, got {value!r}", "invalid")
        return None

    def timezone(self, value: Any) -> str | None:
        if isinstance(value, str) and value:
            try:
                ZoneInfo(value)
                return value
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: name too long
                pass
        self.error("timezone", f"unknown time zone {value!r}", "unknown_timezone")
        return None

    def integer(self, value: Any, path: str, low: int, high: int | None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be an integer, got {value!r}", "invalid")
            return None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            self.error(path, f"must be {bounds}, got {value}", "out_of_range")
            return None
        return value

    def numbers(self, value: Any, path: str, low: int, high: int) -> tuple[int, ...]:
        if not isinstance(value, list) or not value:
            self.error(path, "must be a non-empty list", "empty")
            return ()
        found = [self.integer(v, f"{path}[{i}]", low, high) for i, v in enumerate(value)]
        return tuple(sorted({n for n in found if n is not None}))

    def weekdays(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not value:
            self.error("weekdays", "must be a non-empty list of mon..sun", "empty")
            return ()
        found: set[int] = set()
        for i, name in enumerate(value):
            number = _WEEKDAY_NAMES.get(name.lower()) if isinstance(name, str) else None
            if number is None:
                self.error(
                    f"weekdays[{i}]",
                    f"unknown weekday {name!r}: use {', '.join(WEEKDAYS)}",
                    "unknown_weekday",
                )
            else:
                found.add(number)
        return tuple(sorted(found))

    def end(self, value: Any, start: date | None) -> End | None:
        if not isinstance(value, dict):
            self.error("end", "must be an object with kind never, after or on", "invalid")
            return None
        kind = value.get("kind")
        if kind not in END_KINDS:
            self.error("end.kind", f"must be one of {', '.join(END_KINDS)}", "invalid")
            return None
        extra = set(value) - {"kind", {"after": "count", "on": "date"}.get(kind, "kind")}
        for key in sorted(extra):
            self.error(f"end.{key}", f"does not apply to end kind {kind!r}", "not_allowed")
        if kind == "never":
            return End()
        if kind == "after":
            count = self.integer(value.get("count"), "end.count", 1, None)
            if count is not None and count > MAX_RUNS:
                self.error("end.count", f"at most {MAX_RUNS} runs, got {count}", "too_many_runs")
                return None
            return End("after", count=count) if count is not None else None
        end_date = self.date(value.get("date"), "end.date", required=True)
        if end_date is None or start is None:
            return None
        if end_date < start:
            self.error("end.date", f"{end_date} is before the start {start}", "before_start")
            return None
        if end_date > one_year_after(start):
            self.error(
                "end.date",
                f"{end_date} is more than one year after the start {start}"
                f" (at most {one_year_after(start)})",
                "too_long",
            )
            return None
        return End("on", date=end_date)

    def check_bounds(self, schedule: Schedule, now: datetime | None) -> None:
        """Checks on the whole sequence: at most 365 runs within one year, one in the future."""
        days = sum(1 for _ in _local_days(schedule))
        if schedule.end.kind == "on" and days > MAX_RUNS:
            self.error(
                "end.date",
                f"the schedule has {days} runs up to {schedule.end.date};"
                f" at most {MAX_RUNS} are allowed",
                "too_many_runs",
            )
        elif schedule.end.kind == "after" and days < (schedule.end.count or 0):
            self.error(
                "end.count",
                f"{schedule.end.count} runs take more than one year from {schedule.start};"
                f" at most {days} fit",
                "too_long",
            )
        elif days == 0:
            self.error("", "the schedule has no run between its start and its end", "no_runs")
        elif now is not None and next_occurrence(schedule, now) is None:
            self.error("start", "every run of the schedule is in the past", "in_past")


_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_NAMES = {name: n for names in (WEEKDAYS, _FULL_WEEKDAYS) for n, name in enumerate(names)}
