"""The one table of operators: name, data types, value shape, SQL builder, Python reference.

Every SQL builder returns a boolean expression that may be NULL when the tested value is
NULL; callers wrap it in `COALESCE(..., false)` so NULL never matches (except `is_null`).
Adding an operator means adding one row here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from segmentation.params import Params
from segmentation.values import SCALARS, EvalContext, is_relative, to_date

ALL = frozenset(
    {"string", "integer", "decimal", "boolean", "date", "datetime", "enum", "string_list"}
)
ORDERED = frozenset({"integer", "decimal", "date", "datetime"})
EQUATABLE = frozenset({"string", "integer", "decimal", "boolean", "date", "enum"})
TEXT = frozenset({"string"})
DATES = frozenset({"date", "datetime"})
LISTS = frozenset({"string_list"})


@dataclass(frozen=True)
class Operator:
    """One operator; `prepare` turns the JSON value into bind-ready values or raises ValueError."""

    name: str
    label: str
    types: frozenset[str]
    prepare: Callable[[Any, str, EvalContext, Sequence[str]], Any]
    sql: Callable[[str, Any, str, Params, EvalContext], str]
    py: Callable[[Any, Any, str, EvalContext], bool]


# -- value shapes --------------------------------------------------------------------------
def _scalar(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]) -> Any:
    convert = SCALARS[data_type][0]
    value = convert(raw, ctx)
    if data_type == "enum" and value not in enum_values:
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, enum_values))}")
    return value


def _none(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]) -> None:
    if raw is not None:
        raise ValueError("this operator takes no value")


def _one(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]) -> Any:
    if raw is None:
        raise ValueError("a value is required")
    if isinstance(raw, list):
        raise ValueError("expected one value, not a list")
    return _scalar(raw, data_type, ctx, enum_values)


def _many(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]) -> list[Any]:
    if raw is None:
        raise ValueError("a value is required")
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise ValueError("expected at least one value")
    if len(items) > 1000:
        raise ValueError("at most 1000 values")
    return [_scalar(item, data_type, ctx, enum_values) for item in items]


def _two(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]) -> tuple:
    if not isinstance(raw, list) or len(raw) != 2:
        raise ValueError("expected a list of two values [from, to]")
    low, high = (_scalar(item, data_type, ctx, enum_values) for item in raw)
    # Literal bounds must be in order; relative ones may cross at some as-of (then: no match).
    if low > high and not any(is_relative(item) for item in raw):
        raise ValueError("the first value must not be greater than the second")
    return low, high


def _text_list(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]) -> list:
    return _many(raw, "string", ctx, enum_values)


def _a_date(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]) -> dt.date:
    return to_date(raw, ctx)


def _int_in(low: int, high: int, what: str):
    def prepare(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise ValueError(f"expected {what}: an integer from {low} to {high}")
        return raw

    return prepare


def _anniversary_days(raw: Any, data_type: str, ctx: EvalContext, enum_values: Sequence[str]):
    """Month*100+day of every date from today to today+N; 29 Feb counts on 28 Feb off leap years."""
    days = _int_in(0, 366, "a number of days")(raw, data_type, ctx, enum_values)
    keys: set[int] = set()
    for i in range(days + 1):
        day = ctx.today + dt.timedelta(days=i)
        keys.add(day.month * 100 + day.day)
        if day.month == 2 and day.day == 28 and not _is_leap(day.year):
            keys.add(229)
    return sorted(keys)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# -- SQL and Python pieces ----------------------------------------------------------------
def _pg(data_type: str) -> str:
    return SCALARS[data_type][1]


def _local_date_sql(expr: str, data_type: str, p: Params, ctx: EvalContext) -> str:
    if data_type == "datetime":
        return f"({expr} AT TIME ZONE {p.add(ctx.timezone, 'text')})::date"
    return expr


def _local_date_py(value: Any, data_type: str, ctx: EvalContext) -> dt.date:
    return ctx.local_date(value) if data_type == "datetime" else value


def like_escape(text: str) -> str:
    """`%`, `_` and `\\` typed by a user are literal characters."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cmp(sql_op: str, py_op: Callable[[Any, Any], bool]) -> tuple[Callable, Callable]:
    def sql(expr: str, value: Any, t: str, p: Params, ctx: EvalContext) -> str:
        return f"{expr} {sql_op} {p.add(value, _pg(t))}"

    def py(v: Any, value: Any, t: str, ctx: EvalContext) -> bool:
        return v is not None and py_op(v, value)

    return sql, py


def _part(extract: str, attr: str) -> tuple[Callable, Callable]:
    def sql(expr: str, value: int, t: str, p: Params, ctx: EvalContext) -> str:
        local = _local_date_sql(expr, t, p, ctx)
        return f"extract({extract} from {local}) = {p.add(value, 'integer')}"

    def py(v: Any, value: int, t: str, ctx: EvalContext) -> bool:
        return v is not None and getattr(_local_date_py(v, t, ctx), attr) == value

    return sql, py


def _like(kind: str, negate: bool) -> tuple[Callable, Callable]:
    def sql(expr: str, value: str, t: str, p: Params, ctx: EvalContext) -> str:
        escaped = like_escape(value)
        pattern = {"contains": f"%{escaped}%", "starts": f"{escaped}%", "ends": f"%{escaped}"}[kind]
        test = f"{expr} ILIKE {p.add(pattern, 'text')}"
        return f"NOT ({test})" if negate else test

    def py(v: Any, value: str, t: str, ctx: EvalContext) -> bool:
        if v is None:
            return False
        text, needle = v.lower(), value.lower()
        hit = {
            "contains": needle in text,
            "starts": text.startswith(needle),
            "ends": text.endswith(needle),
        }[kind]
        return hit != negate

    return sql, py


def _eq_sql(expr: str, values: list, t: str, p: Params, ctx: EvalContext) -> str:
    if len(values) == 1:  # plain = lets the planner use statistics and indexes
        return f"{expr} = {p.add(values[0], _pg(t))}"
    return f"{expr} = ANY({p.add(values, _pg(t) + '[]')})"


def _neq_sql(expr: str, values: list, t: str, p: Params, ctx: EvalContext) -> str:
    return f"NOT ({expr} = ANY({p.add(values, _pg(t) + '[]')}))"


def _between_sql(expr: str, bounds: tuple, t: str, p: Params, ctx: EvalContext) -> str:
    return f"{expr} BETWEEN {p.add(bounds[0], _pg(t))} AND {p.add(bounds[1], _pg(t))}"


def _date_equals_sql(expr: str, day: dt.date, t: str, p: Params, ctx: EvalContext) -> str:
    return f"{_local_date_sql(expr, t, p, ctx)} = {p.add(day, 'date')}"


def _anniversary_sql(expr: str, keys: list[int], t: str, p: Params, ctx: EvalContext) -> str:
    local = _local_date_sql(expr, t, p, ctx)
    return (
        f"(extract(month from {local}) * 100 + extract(day from {local}))::integer"
        f" = ANY({p.add(keys, 'integer[]')})"
    )


def _anniversary_py(v: Any, keys: list[int], t: str, ctx: EvalContext) -> bool:
    if v is None:
        return False
    day = _local_date_py(v, t, ctx)
    return day.month * 100 + day.day in keys


def _list_sql(jsonb_op: str, negate: bool) -> Callable:
    def sql(expr: str, values: list, t: str, p: Params, ctx: EvalContext) -> str:
        test = f"{expr} {jsonb_op} {p.add(values, 'text[]')}"
        return f"NOT ({test})" if negate else test

    return sql


def _list_py(kind: str) -> Callable:
    def py(v: Any, values: list, t: str, ctx: EvalContext) -> bool:
        if v is None:
            return False
        items = {x for x in v if isinstance(x, str)}
        if kind == "any":
            return bool(items & set(values))
        if kind == "all":
            return set(values) <= items
        return not items & set(values)

    return py


_gt, _lt = _cmp(">", lambda a, b: a > b), _cmp("<", lambda a, b: a < b)
_gte, _lte = _cmp(">=", lambda a, b: a >= b), _cmp("<=", lambda a, b: a <= b)

OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in [
        Operator(
            "eq",
            "Equal to (any of)",
            EQUATABLE,
            _many,
            _eq_sql,
            lambda v, vals, t, ctx: v is not None and v in vals,
        ),
        Operator(
            "neq",
            "Not equal to (none of)",
            EQUATABLE,
            _many,
            _neq_sql,
            lambda v, vals, t, ctx: v is not None and v not in vals,
        ),
        Operator("like", "Contains", TEXT, _one, *_like("contains", False)),
        Operator("not_like", "Does not contain", TEXT, _one, *_like("contains", True)),
        Operator("starts_with", "Starts with", TEXT, _one, *_like("starts", False)),
        Operator("ends_with", "Ends with", TEXT, _one, *_like("ends", False)),
        Operator(
            "is_null",
            "Is empty",
            ALL,
            _none,
            lambda e, v, t, p, ctx: f"{e} IS NULL",
            lambda v, vals, t, ctx: v is None,
        ),
        Operator(
            "is_not_null",
            "Is not empty",
            ALL,
            _none,
            lambda e, v, t, p, ctx: f"{e} IS NOT NULL",
            lambda v, vals, t, ctx: v is not None,
        ),
        Operator("gt", "Greater than", ORDERED, _one, *_gt),
        Operator("lt", "Less than", ORDERED, _one, *_lt),
        Operator("gte", "Equal to or greater than", ORDERED, _one, *_gte),
        Operator("lte", "Equal to or less than", ORDERED, _one, *_lte),
        Operator(
            "between",
            "Between (inclusive)",
            ORDERED,
            _two,
            _between_sql,
            lambda v, b, t, ctx: v is not None and b[0] <= v <= b[1],
        ),
        Operator(
            "date_equals",
            "Is date equal (hours ignored)",
            DATES,
            _a_date,
            _date_equals_sql,
            lambda v, d, t, ctx: v is not None and _local_date_py(v, t, ctx) == d,
        ),
        Operator(
            "month_equals",
            "Is month equal",
            DATES,
            _int_in(1, 12, "a month"),
            *_part("month", "month"),
        ),
        Operator(
            "year_equals",
            "Is year equal",
            DATES,
            _int_in(1, 9999, "a year"),
            *_part("year", "year"),
        ),
        Operator(
            "day_equals",
            "Is day of month equal",
            DATES,
            _int_in(1, 31, "a day"),
            *_part("day", "day"),
        ),
        Operator(
            "anniversary_within",
            "Anniversary today or in the next N days",
            DATES,
            _anniversary_days,
            _anniversary_sql,
            _anniversary_py,
        ),
        Operator(
            "contains_any",
            "List contains any of",
            LISTS,
            _text_list,
            _list_sql("?|", False),
            _list_py("any"),
        ),
        Operator(
            "contains_all",
            "List contains all of",
            LISTS,
            _text_list,
            _list_sql("?&", False),
            _list_py("all"),
        ),
        Operator(
            "contains_none",
            "List contains none of",
            LISTS,
            _text_list,
            _list_sql("?|", True),
            _list_py("none"),
        ),
    ]
}

# Operators that compare a number (counts, aggregates, % thresholds).
NUMERIC_OPERATORS = ("eq", "neq", "gt", "lt", "gte", "lte", "between")


def operators_for(data_type: str) -> list[str]:
    """Names of the operators allowed on a data type (for UIs and error messages)."""
    return [name for name, op in OPERATORS.items() if data_type in op.types]
