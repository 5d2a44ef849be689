"""Field distribution panels: top values of a categorical catalog field, histogram of others."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from models.contacts import CONTACT_COLUMNS
from models.enums import DataType, FieldStorage
from segmentation.dashboards.context import (
    UNKNOWN,
    PanelContext,
    number,
    one_series_panel,
    statement,
    top_rows,
)
from segmentation.dashboards.model import DashboardError, Panel, PanelKind, Point
from segmentation.dashboards.sql import top_values_sql
from segmentation.params import Params

CATEGORICAL = {DataType.STRING, DataType.ENUM, DataType.BOOLEAN, DataType.STRING_LIST}
NUMERIC = {DataType.INTEGER, DataType.DECIMAL}
TEMPORAL = {DataType.DATE, DataType.DATETIME}
# Attribute text that casts without error (anything else counts as unknown); the day is
# checked against the month's length in `_valid_date`, since PostgreSQL 15 has no safe cast.
DATE_TEXT = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
TIME_TEXT = r"^.{10}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"


@dataclass(frozen=True)
class CatalogField:
    key: str
    label: str
    data_type: DataType
    storage: FieldStorage
    column: str | None


async def load_fields(conn: Any, database_id: int, keys: tuple[str, ...]) -> list[CatalogField]:
    """The catalog fields named by `keys`, in order; DashboardError for one not chartable."""
    rows = await conn.fetch(
        'SELECT key, label, data_type, storage, "column" FROM catalog_field'
        " WHERE database_id = $1::int AND key = ANY($2::text[])",
        database_id,
        list(keys),
    )
    found = {r["key"]: r for r in rows}
    fields = []
    for i, key in enumerate(keys):
        path = f"fieldKeys[{i}]"
        if key not in found:
            raise DashboardError(path, f"no field {key!r} in this database's catalog", "not_found")
        row = found[key]
        data_type, storage = DataType(row["data_type"]), FieldStorage(row["storage"])
        field = CatalogField(key, row["label"], data_type, storage, row["column"])
        if field.storage is FieldStorage.COLUMN and field.column not in CONTACT_COLUMNS:
            raise DashboardError(path, f"field {key!r} points at an unknown contact column")
        if field.storage is FieldStorage.COLUMN and field.data_type is DataType.STRING_LIST:
            raise DashboardError(path, f"field {key!r}: a list must be stored as an attribute")
        fields.append(field)
    return fields


def value_sql(field: CatalogField, ctx: PanelContext, p: Params) -> str:
    """The field's value on `contact c` as text, numeric or date (NULL when missing or bad)."""
    t = field.data_type
    if field.storage is FieldStorage.COLUMN:
        column = f'c."{field.column}"'  # checked against CONTACT_COLUMNS
        if t in CATEGORICAL:
            return f"nullif({column}::text, '')"
        if t in NUMERIC:
            return f"{column}::numeric"
        if t is DataType.DATETIME:
            return f"({column} AT TIME ZONE {p.add(ctx.timezone, 'text')})::date"
        return f"{column}::date"
    key = p.add(field.key, "text")
    if t in CATEGORICAL:
        return f"nullif(c.attributes ->> {key}, '')"
    if t in NUMERIC:
        return (
            f"CASE WHEN jsonb_typeof(c.attributes -> {key}) = 'number'"
            f" THEN (c.attributes ->> {key})::numeric END"
        )
    text = f"(c.attributes ->> {key})"
    if t is DataType.DATETIME:
        local = f"({text}::timestamptz AT TIME ZONE {p.add(ctx.timezone, 'text')})::date"
        return _valid_date(text, f"CASE WHEN {text} ~ '{TIME_TEXT}' THEN {local} END")
    return _valid_date(text, f"CASE WHEN length({text}) = 10 THEN {text}::date END")


def _valid_date(text: str, then: str) -> str:
    """`then` if `text` starts with a real calendar day, else NULL (nested CASEs keep order)."""
    year, month = f"left({text}, 4)::int", f"substr({text}, 6, 2)::int"
    month_end = f"extract(day FROM make_date({year}, {month}, 1) + interval '1 month - 1 day')"
    return (
        f"CASE WHEN {text} ~ '{DATE_TEXT}' AND left({text}, 4) <> '0000' THEN"
        f" CASE WHEN substr({text}, 9, 2)::int <= {month_end} THEN {then} END END"
    )


def field_values_sql(field: CatalogField, ctx: PanelContext) -> tuple[str, list[Any]]:
    """Top values of a categorical field (a list field counts each of its values)."""
    p = ctx.scope.params()
    if field.data_type is DataType.STRING_LIST:
        key = p.add(field.key, "text")
        grouped = f"""
            SELECT nullif(v.label, '') AS label, count(*) AS n FROM contact c
            LEFT JOIN LATERAL jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(c.attributes -> {key}) = 'array'
                THEN c.attributes -> {key} END) AS v(label) ON true
            WHERE {ctx.scope.contact_filter(p)} GROUP BY 1"""
    else:
        grouped = (
            f"SELECT {value_sql(field, ctx, p)} AS label, count(*) AS n FROM contact c "
            f"WHERE {ctx.scope.contact_filter(p)} GROUP BY 1"
        )
    return top_values_sql(grouped, p.add(ctx.options.top_n, "int")), p.values


def field_range_sql(field: CatalogField, ctx: PanelContext) -> tuple[str, list[Any]]:
    p = ctx.scope.params()
    sql = f"""
    SELECT min(x) AS lo, max(x) AS hi, count(*) FILTER (WHERE x IS NULL) AS missing
    FROM (SELECT {value_sql(field, ctx, p)} AS x FROM contact c
          WHERE {ctx.scope.contact_filter(p)}) v"""
    return sql, p.values


def field_bins_sql(
    field: CatalogField, ctx: PanelContext, ordinal: str, low: int | Decimal, width: int | Decimal
) -> tuple[str, list[Any]]:
    """Contacts per bin `floor((ordinal(x) - low) / width)`; `ordinal` maps x to a number."""
    p = ctx.scope.params()
    x = f"({value_sql(field, ctx, p)})"
    position = ordinal.format(x=x)
    sql = f"""
    SELECT floor(({position} - {p.add(Decimal(low), "numeric")})
                 / {p.add(Decimal(width), "numeric")})::int AS bin,
           count(*) AS n
    FROM contact c WHERE {ctx.scope.contact_filter(p)} AND {x} IS NOT NULL GROUP BY 1"""
    return sql, p.values


def nice_width(span: float, bins: int, *, integer: bool) -> Decimal:
    """A bin width of 1, 2, 2.5 or 5 times a power of ten giving at most `bins` bins."""
    raw = span / bins
    if raw <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** math.floor(math.log10(raw))
    width = next(m * magnitude for m in (1, 2, Decimal("2.5"), 5, 10) if m * magnitude >= raw)
    if integer:
        width = max(Decimal(1), Decimal(math.ceil(width)))
    return width.normalize()


# Date bins: (unit, ordinal SQL of a date {x}, ordinal of a Python date, widths to try).
DATE_UNITS: tuple[tuple[str, str, Any, tuple[int, ...]], ...] = (
    ("day", "({x} - date '2000-01-01')", lambda d: (d - date(2000, 1, 1)).days, (1, 7)),
    ("month", "(extract(year FROM {x}) * 12 + extract(month FROM {x}) - 1)",
     lambda d: d.year * 12 + d.month - 1, (1, 3, 6)),
    ("year", "extract(year FROM {x})", lambda d: d.year, (1, 2, 5, 10, 20, 50, 100, 1000)),
)  # fmt: skip


def date_label(unit: str, ordinal: int) -> str:
    if unit == "day":
        return date.fromordinal(date(2000, 1, 1).toordinal() + ordinal).isoformat()
    if unit == "month":
        return f"{ordinal // 12:04d}-{ordinal % 12 + 1:02d}"
    return f"{ordinal:04d}"


async def field_panel(conn: Any, ctx: PanelContext, field: CatalogField) -> list[Panel]:
    key, title = f"field:{field.key}", field.label
    if field.data_type in CATEGORICAL:
        points = await top_rows(conn, field_values_sql(field, ctx))
        return [one_series_panel(ctx, key, title, PanelKind.BAR, points, "contacts")]
    span = await conn.fetchrow(*statement(field_range_sql(field, ctx)))
    summary = [Point(UNKNOWN, number(span["missing"]))]
    bins = ctx.options.histogram_bins
    if span["lo"] is None:
        points: list[Point] = []
    elif field.data_type in NUMERIC:
        lo, hi = Decimal(span["lo"]), Decimal(span["hi"])
        integer = field.data_type is DataType.INTEGER
        width = nice_width(float(hi - lo), bins, integer=integer)
        low = (lo / width).to_integral_value(rounding="ROUND_FLOOR") * width
        rows = await conn.fetch(*statement(field_bins_sql(field, ctx, "{x}", low, width)))
        counts = {r["bin"]: r["n"] for r in rows}
        last = int((hi - low) // width)
        points = [
            Point(_number_label(low + i * width, width, integer), number(counts.get(i)))
            for i in range(last + 1)
        ]
    else:
        points = await _date_points(conn, ctx, field, span["lo"], span["hi"], bins)
    return [
        one_series_panel(ctx, key, title, PanelKind.HISTOGRAM, points, "contacts", summary=summary)
    ]


async def _date_points(
    conn: Any, ctx: PanelContext, field: CatalogField, lo: date, hi: date, bins: int
) -> list[Point]:
    """Calendar bins: the finest of days, weeks, months, quarters... giving at most `bins` bins."""
    for unit, ordinal_sql, ordinal, widths in DATE_UNITS:
        for width in widths:
            low = ordinal(lo) // width * width
            last = (ordinal(hi) - low) // width
            if last < bins:
                query = field_bins_sql(field, ctx, ordinal_sql, low, width)
                counts = {r["bin"]: r["n"] for r in await conn.fetch(*statement(query))}
                return [
                    Point(_date_range_label(unit, low + i * width, width), number(counts.get(i)))
                    for i in range(last + 1)
                ]
    raise AssertionError("a 1000-year bin always fits")  # pragma: no cover


def _date_range_label(unit: str, start: int, width: int) -> str:
    if width == 1:
        return date_label(unit, start)
    return f"{date_label(unit, start)}..{date_label(unit, start + width - 1)}"


def _number_label(start: Decimal, width: Decimal, integer: bool) -> str:
    if integer and width == 1:
        return f"{start:f}"
    end = start + width - 1 if integer else start + width
    return f"{start.normalize():f}-{end.normalize():f}"
