"""Demographic panels: age bands, gender, country and city (top N + other), contactability."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from segmentation.dashboards.context import (
    UNKNOWN,
    PanelContext,
    band_labels,
    number,
    one_series_panel,
    statement,
    top_rows,
)
from segmentation.dashboards.model import Panel, PanelKind, Point
from segmentation.dashboards.sql import top_values_sql


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def birth_thresholds(today: date, bounds: tuple[int, ...]) -> list[date]:
    """Ascending birth dates: whoever is born on or after the k-th is younger than bounds[-k].

    Someone is N or older on `today` when born on or before `years_before(today, N)` (as
    PostgreSQL's `age()` counts), so comparing dates replaces computing ages row by row.
    """
    return [years_before(today, n) + timedelta(days=1) for n in reversed(bounds)]


def age_bands_sql(ctx: PanelContext) -> tuple[str, list[Any]]:
    """Contacts per age band: bucket b = how many bounds the age reaches; -1 = no birth date."""
    p = ctx.scope.params()
    bounds = ctx.options.age_bands
    thresholds = p.add(birth_thresholds(ctx.local_today, bounds), "date[]")
    sql = f"""
    SELECT CASE WHEN c.birth_date IS NULL THEN -1
                ELSE {len(bounds)} - width_bucket(c.birth_date, {thresholds}) END AS bucket,
           count(*) AS n
    FROM contact c WHERE {ctx.scope.contact_filter(p)}
    GROUP BY bucket"""
    return sql, p.values


async def age_bands_panel(conn: Any, ctx: PanelContext) -> list[Panel]:
    rows = await conn.fetch(*statement(age_bands_sql(ctx)))
    counts = {r["bucket"]: r["n"] for r in rows}
    labels = band_labels(ctx.options.age_bands, integer=True)
    points = [Point(label, number(counts.get(i))) for i, label in enumerate(labels)]
    points.append(Point(UNKNOWN, number(counts.get(-1))))
    return [one_series_panel(ctx, "age_bands", "Age", PanelKind.BAR, points, "contacts")]


def column_values_sql(ctx: PanelContext, column: str, top_n: int) -> tuple[str, list[Any]]:
    """Top values of a contact column (from fixed code) with `other` and unknown."""
    p = ctx.scope.params()
    grouped = (
        f"SELECT nullif(c.{column}, '') AS label, count(*) AS n FROM contact c "
        f"WHERE {ctx.scope.contact_filter(p)} GROUP BY 1"
    )
    return top_values_sql(grouped, p.add(top_n, "int")), p.values


async def gender_panel(conn: Any, ctx: PanelContext) -> list[Panel]:
    points = await top_rows(conn, column_values_sql(ctx, "gender", 100))
    return [one_series_panel(ctx, "gender", "Gender", PanelKind.PIE, points, "contacts")]


async def country_panel(conn: Any, ctx: PanelContext) -> list[Panel]:
    points = await top_rows(conn, column_values_sql(ctx, "country", ctx.options.top_n))
    return [one_series_panel(ctx, "country", "Country", PanelKind.BAR, points, "contacts")]


async def city_panel(conn: Any, ctx: PanelContext) -> list[Panel]:
    points = await top_rows(conn, column_values_sql(ctx, "city", ctx.options.top_n))
    return [one_series_panel(ctx, "city", "City", PanelKind.BAR, points, "contacts")]


# (label, condition on contact c): what "reachable on a channel" means.
CONTACTABILITY = (
    ("email", "nullif(c.email, '') IS NOT NULL"),
    ("email + consent", "nullif(c.email, '') IS NOT NULL AND c.consent_email"),
    ("phone", "nullif(c.phone, '') IS NOT NULL"),
    ("phone + SMS consent", "nullif(c.phone, '') IS NOT NULL AND c.consent_sms"),
    ("push token", "nullif(c.push_token, '') IS NOT NULL"),
    ("push token + consent", "nullif(c.push_token, '') IS NOT NULL AND c.consent_push"),
)


def contactability_sql(ctx: PanelContext) -> tuple[str, list[Any]]:
    p = ctx.scope.params()
    counts = ", ".join(
        f"count(*) FILTER (WHERE {cond}) AS n{i}" for i, (_, cond) in enumerate(CONTACTABILITY)
    )
    sql = f"SELECT count(*) AS total, {counts} FROM contact c WHERE {ctx.scope.contact_filter(p)}"
    return sql, p.values


async def contactability_panel(conn: Any, ctx: PanelContext) -> list[Panel]:
    """Share (%) of the contacts reachable on each channel; counts in the summary."""
    row = await conn.fetchrow(*statement(contactability_sql(ctx)))
    total = row["total"]
    points = [
        Point(label, 100.0 * row[f"n{i}"] / total if total else 0.0)
        for i, (label, _) in enumerate(CONTACTABILITY)
    ]
    summary = [Point("contacts", number(total))] + [
        Point(label, number(row[f"n{i}"])) for i, (label, _) in enumerate(CONTACTABILITY)
    ]
    return [
        one_series_panel(
            ctx, "contactability", "Contactability", PanelKind.BAR, points, "%", summary=summary
        )
    ]
