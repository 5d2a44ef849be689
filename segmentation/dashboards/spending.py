"""Spending panels: distribution of total spend and of purchase counts; top categories."""

from __future__ import annotations

from typing import Any

from segmentation.dashboards.context import (
    PanelContext,
    band_labels,
    number,
    one_series_panel,
    statement,
    top_rows,
)
from segmentation.dashboards.model import Panel, PanelKind, Point
from segmentation.dashboards.sql import PURCHASE_LOOKUP_SHARE, top_values_sql
from segmentation.params import Params

PURCHASE = "purchase"  # event type of an order; value = order amount
PURCHASE_LINE = "purchase_line"  # event type of an order line; value = line amount
NO_PURCHASE = "no purchase"


def _event_type(ctx: PanelContext, p: Params, key: str) -> str:
    """The id of the database's event type `key` as a parameter (a value: good plans)."""
    return p.add(ctx.event_type_id(key), "int")


def _purchases(ctx: PanelContext, p: Params, key: str, columns: tuple[str, ...]) -> str:
    """FROM item `e`: the scope's events of type `key` in the time frame, with `columns`."""
    conditions = f"e.event_type_id = {_event_type(ctx, p, key)} AND " + ctx.window_filter(
        p, "e.occurred_at"
    )
    return ctx.scope.events(columns, conditions, PURCHASE_LOOKUP_SHARE)


def spending_sql(ctx: PanelContext) -> tuple[str, list[Any]]:
    """Buyers per spend band and per purchase-count band, buyers' revenue, and the scope size."""
    p = ctx.scope.params()
    sql = f"""
    WITH buyer AS (
        SELECT e.contact_id, coalesce(sum(e.value), 0) AS spend, count(*)::int AS orders
        FROM {_purchases(ctx, p, PURCHASE, ("contact_id", "value"))}
        GROUP BY e.contact_id)
    SELECT 'spend' AS measure,
           width_bucket(spend, {p.add(list(ctx.options.spend_bands), "numeric[]")}) AS bucket,
           count(*)::numeric AS n
    FROM buyer GROUP BY 2
    UNION ALL
    SELECT 'orders', width_bucket(orders, {p.add(list(ctx.options.order_bands), "int[]")}),
           count(*)::numeric
    FROM buyer GROUP BY 2
    UNION ALL SELECT 'revenue', 0, coalesce(sum(spend), 0) FROM buyer
    UNION ALL SELECT 'purchases', 0, coalesce(sum(orders), 0)::numeric FROM buyer
    UNION ALL SELECT 'contacts', 0, {ctx.scope.count_sql(p)}::numeric"""
    return sql, p.values


async def spending_panels(conn: Any, ctx: PanelContext) -> list[Panel]:
    # Scanning purchases, sum per buyer as the (type, contact) index streams them in contact
    # order: the planner prefers hashing the (type, time) range's rows, ~3x slower on 1M.
    streamed = not ctx.scope.looks_up(PURCHASE_LOOKUP_SHARE)
    if streamed:
        await conn.execute("SET LOCAL enable_hashagg = off")
    rows = await conn.fetch(*statement(spending_sql(ctx)))
    if streamed:  # the worker's later panels plan as usual
        await conn.execute("SET LOCAL enable_hashagg = on")
    values = {(r["measure"], r["bucket"]): number(r["n"]) for r in rows}
    spend = {b: n for (m, b), n in values.items() if m == "spend"}
    orders = {b: n for (m, b), n in values.items() if m == "orders"}
    contacts = values[("contacts", 0)]
    buyers = sum(spend.values())
    no_purchase = Point(NO_PURCHASE, contacts - buyers)
    spend_labels = band_labels(ctx.options.spend_bands, integer=False)
    order_labels = band_labels(ctx.options.order_bands, integer=True, below=False)
    summary = [
        Point("contacts", contacts),
        Point("buyers", buyers),
        Point("purchases", values[("purchases", 0)]),
        Point("revenue", values[("revenue", 0)]),
    ]
    spend_points = [no_purchase] + [
        Point(label, spend.get(i, 0.0)) for i, label in enumerate(spend_labels)
    ]
    order_points = [no_purchase] + [
        Point(label, orders.get(i + 1, 0.0)) for i, label in enumerate(order_labels)
    ]
    return [
        one_series_panel(ctx, "spend_distribution", "Total spend", PanelKind.HISTOGRAM,
                         spend_points, "contacts", summary=summary),
        one_series_panel(ctx, "purchase_count_distribution", "Number of purchases",
                         PanelKind.HISTOGRAM, order_points, "contacts", summary=summary),
    ]  # fmt: skip


def top_categories_sql(ctx: PanelContext) -> tuple[str, list[Any]]:
    """Revenue of order lines per product category, top N + other + unknown.

    The category is the event's `category` column: the `category` property when it is a JSON
    string (as segment conditions read it), so (type, contact) index-only scans cover it.
    """
    p = ctx.scope.params()
    grouped = f"""
        SELECT nullif(e.category, '') AS label, coalesce(sum(e.value), 0) AS n
        FROM {_purchases(ctx, p, PURCHASE_LINE, ("category", "value"))}
        GROUP BY 1"""
    return top_values_sql(grouped, p.add(ctx.options.top_n, "int")), p.values


async def top_categories_panel(conn: Any, ctx: PanelContext) -> list[Panel]:
    points = await top_rows(conn, top_categories_sql(ctx))
    return [
        one_series_panel(ctx, "top_categories", "Top categories", PanelKind.BAR, points,
                         "amount", name="revenue")
    ]  # fmt: skip
