"""Demographic panels: age bands, gender, country and city (top N + other), contactability."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from segmentation.dashboards.context import (
    OTHER,
    UNKNOWN,
    PanelContext,
    band_labels,
    number,
    one_series_panel,
    statement,
)
from segmentation.dashboards.model import Panel, PanelKind, Point


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


# (label, condition on contact c): what "reachable on a channel" means; bit i of `reach`.
CONTACTABILITY = (
    ("email", "nullif(c.email, '') IS NOT NULL"),
    ("email + consent", "nullif(c.email, '') IS NOT NULL AND c.consent_email"),
    ("phone", "nullif(c.phone, '') IS NOT NULL"),
    ("phone + SMS consent", "nullif(c.phone, '') IS NOT NULL AND c.consent_sms"),
    ("push token", "nullif(c.push_token, '') IS NOT NULL"),
    ("push token + consent", "nullif(c.push_token, '') IS NOT NULL AND c.consent_push"),
)
# (dimension, its value on contact c); {bounds}/{thresholds} are filled per statement.
DIMENSIONS = (
    ("gender", "nullif(c.gender, '')"),
    ("country", "nullif(c.country, '')"),
    ("city", "nullif(c.city, '')"),
    ("age", "CASE WHEN c.birth_date IS NULL THEN -1"
            " ELSE {bounds} - width_bucket(c.birth_date, {thresholds}) END"),
    ("reach", " + ".join(f"(CASE WHEN {cond} THEN {1 << i} ELSE 0 END)"
                         for i, (_, cond) in enumerate(CONTACTABILITY))),
)  # fmt: skip


def profile_sql(ctx: PanelContext) -> tuple[str, list[Any]]:
    """One scan of the scope's contacts counting every demographic dimension (grouping sets).

    Rows: (dimension, label, n). Age label b = how many age bounds the age reaches (-1: no
    birth date); reach label = bit set of CONTACTABILITY.
    """
    p = ctx.scope.params()
    bounds = ctx.options.age_bands
    thresholds = p.add(birth_thresholds(ctx.local_today, bounds), "date[]")
    values = ", ".join(
        f"{sql.format(bounds=len(bounds), thresholds=thresholds)} AS {name}"
        for name, sql in DIMENSIONS
    )
    names = [name for name, _ in DIMENSIONS]
    dimension = " ".join(f"WHEN GROUPING({n}) = 0 THEN '{n}'" for n in names)
    sql = f"""
    SELECT CASE {dimension} END AS dimension,
           coalesce({", ".join(f"{n}::text" for n in names)}) AS label, count(*) AS n
    FROM (SELECT {values} FROM contact c WHERE {ctx.scope.contact_filter(p)}) AS c
    GROUP BY GROUPING SETS ({", ".join(f"({n})" for n in names)})"""
    return sql, p.values


def top_points(counts: dict[str | None, int], top_n: int) -> list[Point]:
    """The `top_n` most frequent labels (ties by label), then `other`, then `unknown`."""
    ranked = sorted(((-n, label) for label, n in counts.items() if label is not None))
    points = [Point(label, float(-n)) for n, label in ranked[:top_n]]
    if len(ranked) > top_n:
        points.append(Point(OTHER, float(-sum(n for n, _ in ranked[top_n:]))))
    if None in counts:
        points.append(Point(UNKNOWN, float(counts[None])))
    return points


async def demographics_panels(conn: Any, ctx: PanelContext) -> list[Panel]:
    """Age bands, gender, country, city and contactability from one scan of the contacts."""
    counts: dict[str, dict[str | None, int]] = {name: {} for name, _ in DIMENSIONS}
    for row in await conn.fetch(*statement(profile_sql(ctx))):
        counts[row["dimension"]][row["label"]] = row["n"]
    ages = {int(label): n for label, n in counts["age"].items() if label is not None}
    age_points = [
        Point(label, number(ages.get(i)))
        for i, label in enumerate(band_labels(ctx.options.age_bands, integer=True))
    ]
    age_points.append(Point(UNKNOWN, number(ages.get(-1))))
    top = ctx.options.top_n
    return [
        one_series_panel(ctx, "age_bands", "Age", PanelKind.BAR, age_points, "contacts"),
        one_series_panel(ctx, "gender", "Gender", PanelKind.PIE,
                         top_points(counts["gender"], 100), "contacts"),
        one_series_panel(ctx, "country", "Country", PanelKind.BAR,
                         top_points(counts["country"], top), "contacts"),
        one_series_panel(ctx, "city", "City", PanelKind.BAR,
                         top_points(counts["city"], top), "contacts"),
        contactability_panel(ctx, {int(k): n for k, n in counts["reach"].items()}),
    ]  # fmt: skip


def contactability_panel(ctx: PanelContext, reach: dict[int, int]) -> Panel:
    """Share (%) of the contacts reachable on each channel; counts in the summary."""
    total = sum(reach.values())
    reached = [
        sum(n for bits, n in reach.items() if bits & 1 << i) for i in range(len(CONTACTABILITY))
    ]
    points = [
        Point(label, 100.0 * n / total if total else 0.0)
        for (label, _), n in zip(CONTACTABILITY, reached, strict=True)
    ]
    summary = [Point("contacts", float(total))] + [
        Point(label, float(n)) for (label, _), n in zip(CONTACTABILITY, reached, strict=True)
    ]
    return one_series_panel(
        ctx, "contactability", "Contactability", PanelKind.BAR, points, "%", summary=summary
    )
