"""Typed values from JSON: literals and relative dates, resolved against an as-of time.

The SQL compiler binds what these functions return and the reference evaluator compares
with the same objects, so both sides agree on every resolved date by construction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

UNIT_DELTAS = {
    "day": lambda n: relativedelta(days=n),
    "week": lambda n: relativedelta(weeks=n),
    "month": lambda n: relativedelta(months=n),
    "year": lambda n: relativedelta(years=n),
}


@dataclass(frozen=True)
class EvalContext:
    """The as-of instant and the database's time zone every relative value resolves against."""

    as_of: dt.datetime
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_now(self) -> dt.datetime:
        return self.as_of.astimezone(self.tz)

    @property
    def today(self) -> dt.date:
        return self.local_now.date()

    def midnight(self, day: dt.date) -> dt.datetime:
        """The instant a local calendar day starts (as UTC)."""
        return dt.datetime.combine(day, dt.time(), tzinfo=self.tz).astimezone(dt.UTC)

    def shifted(self, amount: int, unit: str) -> dt.datetime:
        """as_of moved by N units of local wall-clock time (month ends clamp), as UTC."""
        local = self.local_now.replace(tzinfo=None) + UNIT_DELTAS[unit](amount)
        return local.replace(tzinfo=self.tz).astimezone(dt.UTC)

    def local_date(self, value: dt.datetime) -> dt.date:
        return value.astimezone(self.tz).date()


def relative_parts(raw: Any) -> tuple[int, str] | None:
    """(amount, unit) of `{"relative": {"amount": -3, "unit": "day"}}`, else None."""
    if not (isinstance(raw, dict) and set(raw) == {"relative"}):
        return None
    rel = raw["relative"]
    if not isinstance(rel, dict) or set(rel) - {"amount", "unit"}:
        raise ValueError('expected {"relative": {"amount": <integer>, "unit": <unit>}}')
    amount, unit = rel.get("amount"), rel.get("unit", "day")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise ValueError("relative amount must be an integer (negative = before as-of)")
    if unit not in UNIT_DELTAS:
        raise ValueError(f"relative unit must be one of {', '.join(UNIT_DELTAS)}")
    return amount, unit


def to_date(raw: Any, ctx: EvalContext) -> dt.date:
    """A date literal `YYYY-MM-DD` or a relative date (today = amount 0)."""
    rel = relative_parts(raw)
    if rel is not None:
        return ctx.today + UNIT_DELTAS[rel[1]](rel[0])
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise ValueError("expected a date YYYY-MM-DD or a relative date")


def to_datetime(raw: Any, ctx: EvalContext) -> dt.datetime:
    """An ISO datetime (no offset = the database's time zone) or a relative time."""
    rel = relative_parts(raw)
    if rel is not None:
        return ctx.shifted(*rel)
    if isinstance(raw, str) and len(raw) >= 10:
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            value = None
        if value is not None:
            if value.tzinfo is None:
                value = value.replace(tzinfo=ctx.tz)
            return value.astimezone(dt.UTC)
    raise ValueError("expected an ISO datetime (YYYY-MM-DDTHH:MM[:SS][+HH:MM]) or a relative time")


def to_integer(raw: Any, ctx: EvalContext) -> Decimal:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Decimal(raw)
    raise ValueError("expected an integer")


def to_decimal(raw: Any, ctx: EvalContext) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError("expected a number")
    if isinstance(raw, int | float | str):
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            value = None
        if value is not None and value.is_finite() and abs(value) < Decimal(10) ** 30:
            return value
    raise ValueError("expected a number")


def to_string(raw: Any, ctx: EvalContext) -> str:
    if isinstance(raw, str):
        if "\x00" in raw:
            raise ValueError("text cannot contain NUL characters")
        return raw
    raise ValueError("expected a string")


def to_boolean(raw: Any, ctx: EvalContext) -> bool:
    if isinstance(raw, bool):
        return raw
    raise ValueError("expected true or false")


# data type -> (converter, PostgreSQL type of the bound parameter)
SCALARS = {
    "string": (to_string, "text"),
    "enum": (to_string, "text"),
    "integer": (to_integer, "numeric"),
    "decimal": (to_decimal, "numeric"),
    "boolean": (to_boolean, "boolean"),
    "date": (to_date, "date"),
    "datetime": (to_datetime, "timestamptz"),
    "string_list": (to_string, "text"),
}


# The strings a date / datetime attribute or property may hold (stricter than ISO 8601, so
# that Python and PostgreSQL read exactly the same set): real calendar days only (29 February
# in leap years), years 0001-9999 (datetimes 1000-9999), hours 00-23, up to 6 fractional
# digits, an offset of at most 14 hours. `compile.json_typed` casts only strings matching
# these, so a malformed value reads as NULL instead of making the whole query fail.
_MONTH_DAY = (
    "(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    "|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
DATE_PATTERN = f"(?!0000)(?:[0-9]{{4}}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
DATETIME_PATTERN = (
    f"(?=[1-9]){DATE_PATTERN}[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r"(?::[0-5][0-9](?:\.[0-9]{1,6})?)?(?:Z|[+-](?:0[0-9]|1[0-4])(?::?[0-5][0-9])?)"
)
_DATE_FULL = re.compile(DATE_PATTERN)
_DATETIME_FULL = re.compile(DATETIME_PATTERN)


def from_json_attribute(data_type: str, raw: Any) -> Any:
    """A contact attribute / event property as stored in JSONB, typed; wrong types read as null.

    Mirrors the SQL guards in `compile.py` (`jsonb_typeof` checks) for the reference evaluator.
    """
    if raw is None:
        return None
    if data_type in ("string", "enum"):
        return raw if isinstance(raw, str) else None
    if data_type in ("integer", "decimal"):
        if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
            return None
        return Decimal(str(raw))
    if data_type == "boolean":
        return raw if isinstance(raw, bool) else None
    if data_type == "date":
        if isinstance(raw, str) and _DATE_FULL.fullmatch(raw):
            return dt.date.fromisoformat(raw)
        return None
    if data_type == "datetime":
        if isinstance(raw, str) and _DATETIME_FULL.fullmatch(raw):
            return dt.datetime.fromisoformat(raw)
        return None
    if data_type == "string_list":
        return raw if isinstance(raw, list) else None
    return None


def window_bounds(
    kind: str, start: Any, end: Any, amount: int | None, unit: str | None, ctx: EvalContext
) -> tuple[dt.datetime | None, dt.datetime | None, bool]:
    """(from inclusive, to, to_inclusive) of an event time window.

    Dates are local calendar days: after D = from D's midnight; before D = until D's midnight;
    between D1 and D2 includes both days. The last N units = [as_of - N units, as_of].
    """
    if kind == "anytime":
        return None, None, False
    if kind == "last":
        assert amount is not None and unit is not None
        return ctx.shifted(-amount, unit), ctx.as_of, True
    low = ctx.midnight(to_date(start, ctx)) if start is not None else None
    high = ctx.midnight(to_date(end, ctx) + dt.timedelta(days=1)) if end is not None else None
    if kind == "before" and end is not None:
        high = ctx.midnight(to_date(end, ctx))
    return low, high, False


def is_relative(raw: Any) -> bool:
    """Whether a JSON value is a relative date/time (its date depends on the as-of time)."""
    return isinstance(raw, dict) and "relative" in raw
