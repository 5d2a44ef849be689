"""Influenced purchases: what a plan's recipients bought within N days of a run, against control."""

from __future__ import annotations

from typing import Any

from segmentation.dashboards.context import PanelContext, number, statement
from segmentation.dashboards.model import Panel, PanelKind, Point, Series
from segmentation.dashboards.spending import PURCHASE

RUNS = 12  # the most recent runs charted
SENT, CONTROL = "sent", "control"  # recipient statuses compared: messaged vs held out


def influence_sql(ctx: PanelContext) -> tuple[str, list[Any]]:
    """Per run and group: contacts, buyers, orders and revenue within the days after the run.

    A run's moment is when it finished (else started); both groups share it, so the windows match.
    """
    p = ctx.scope.params()
    database = p.add(ctx.scope.database_id, "int")
    days = p.add(ctx.options.influence_days, "int")
    purchase = p.add(ctx.event_type_id(PURCHASE), "int")
    sql = f"""
    WITH run AS (
        SELECT pr.id, coalesce(pr.finished_at, pr.started_at) AS at
        FROM plan_run pr JOIN plan pl ON pl.id = pr.plan_id
        WHERE pr.plan_id = {p.add(ctx.options.plan_id, "int")} AND pl.database_id = {database}
          AND coalesce(pr.finished_at, pr.started_at) IS NOT NULL
        ORDER BY at DESC LIMIT {p.add(RUNS, "int")})
    SELECT run.id AS run_id, run.at, r.status, count(*) AS contacts,
           count(*) FILTER (WHERE b.orders > 0) AS buyers,
           coalesce(sum(b.orders), 0) AS orders, coalesce(sum(b.revenue), 0) AS revenue
    FROM run CROSS JOIN LATERAL (
        -- one row per contact: a plan with several deliveries lists it once per delivery
        SELECT rc.contact_id,
               CASE WHEN bool_or(rc.status = '{SENT}') THEN '{SENT}' ELSE '{CONTROL}' END AS status
        FROM recipient rc
        WHERE rc.run_id = run.id AND rc.status = ANY({p.add([SENT, CONTROL], "text[]")})
        GROUP BY rc.contact_id
    ) r
    LEFT JOIN LATERAL (
        SELECT count(*) AS orders, sum(e.value) AS revenue FROM event e
        WHERE e.contact_id = r.contact_id AND e.event_type_id = {purchase}
          AND e.occurred_at >= run.at
          AND e.occurred_at < run.at + make_interval(days => {days})
    ) b ON true
    GROUP BY run.id, run.at, r.status
    ORDER BY run.at, run.id"""
    return sql, p.values


def rate(buyers: float, contacts: float) -> float:
    return 100.0 * buyers / contacts if contacts else 0.0


async def influence_panel(conn: Any, ctx: PanelContext) -> list[Panel]:
    """Conversion (%) of recipients and of the control group per run; totals and lift in summary."""
    rows = await conn.fetch(*statement(influence_sql(ctx)))
    runs: dict[int, str] = {}
    per_run: dict[tuple[int, str], Any] = {}
    totals = {g: {"contacts": 0.0, "buyers": 0.0, "orders": 0.0, "revenue": 0.0}
              for g in (SENT, CONTROL)}  # fmt: skip
    for r in rows:
        runs[r["run_id"]] = f"run {r['run_id']} {r['at'].astimezone(ctx.zone):%Y-%m-%d}"
        per_run[(r["run_id"], r["status"])] = r
        for measure in totals[r["status"]]:
            totals[r["status"]][measure] += number(r[measure])

    def points(group: str) -> tuple[Point, ...]:
        return tuple(
            Point(label, rate(*_buyers_contacts(per_run.get((run_id, group)))))
            for run_id, label in runs.items()
        )

    sent, control = totals[SENT], totals[CONTROL]
    sent_rate, control_rate = (rate(g["buyers"], g["contacts"]) for g in (sent, control))
    summary = [
        Point("recipients", sent["contacts"]),
        Point("control", control["contacts"]),
        Point("recipient buyers", sent["buyers"]),
        Point("control buyers", control["buyers"]),
        Point("recipient conversion %", sent_rate),
        Point("control conversion %", control_rate),
        Point("recipient revenue", sent["revenue"]),
        Point("control revenue", control["revenue"]),
    ]
    if control["contacts"]:
        extra = (sent_rate - control_rate) / 100 * sent["contacts"]
        summary.append(Point("incremental buyers", extra))
    if control_rate:
        summary.append(Point("lift %", 100.0 * (sent_rate - control_rate) / control_rate))
    series = (Series("recipients", points(SENT)), Series("control", points(CONTROL)))
    title = f"Purchases within {ctx.options.influence_days} days of a run"
    return [Panel("influenced_purchases", title, PanelKind.BAR, series, "%", ctx.computed_at,
                  tuple(summary))]  # fmt: skip


def _buyers_contacts(row: Any) -> tuple[float, float]:
    return (number(row["buyers"]), number(row["contacts"])) if row else (0.0, 0.0)
