"""Spending panels and influenced purchases (lift against a control group), counted by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import Plan, PlanRun, Profile, Recipient, RunTrigger, Segment, User
from segmentation.dashboards import DashboardError, DashboardOptions, PanelKind, compute_dashboard
from tests.segmentation.dashboards_data import (
    add_contact,
    add_event,
    day,
    new_database,
    summary,
    utc,
    values,
)

pytestmark = pytest.mark.usefixtures("db")
JANUARY = DashboardOptions(since=day("2025-01-01"), until=day("2025-02-01"), top_n=2)


async def test_spend_and_purchase_count_distributions_over_the_time_frame():
    database = await new_database()
    a, b, _c, d, e = [await add_contact(database) for _ in range(5)]
    await add_event(a, "purchase", utc(2025, 1, 5), 30)
    await add_event(a, "purchase", utc(2025, 1, 20), 40)
    await add_event(b, "purchase", utc(2025, 1, 10), 600)
    await add_event(d, "purchase", utc(2025, 2, 5), 20)  # after the frame
    for n in range(3):
        await add_event(e, "purchase", utc(2025, 1, 2 + n), 10)
    await add_event(b, "cart_abandoned", utc(2025, 1, 11), 999)  # not a purchase

    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1), options=JANUARY)
    spend = dashboard.panel("spend_distribution")
    orders = dashboard.panel("purchase_count_distribution")

    assert spend.kind is PanelKind.HISTOGRAM
    assert values(spend) == {
        "no purchase": 2, "< 50": 1, "50-100": 1, "100-250": 0, "250-500": 0,
        "500-1000": 1, "1000-2500": 0, "2500+": 0,
    }  # fmt: skip
    assert values(orders) == {
        "no purchase": 2, "1": 1, "2": 1, "3": 1, "4-5": 0, "6-10": 0, "11+": 0,
    }  # fmt: skip
    assert summary(spend) == {"contacts": 5, "buyers": 3, "purchases": 6, "revenue": 700}


async def test_top_categories_rank_order_lines_by_revenue():
    database = await new_database()
    a, b = await add_contact(database), await add_contact(database)
    await add_event(a, "purchase_line", utc(2025, 1, 3), 100, category="shoes")
    await add_event(a, "purchase_line", utc(2025, 1, 3), 50, category="shoes")
    await add_event(b, "purchase_line", utc(2025, 1, 4), 80, category="bags")
    await add_event(b, "purchase_line", utc(2025, 1, 4), 10, category="hats")
    await add_event(b, "purchase_line", utc(2025, 1, 4), 5, category="socks")
    await add_event(b, "purchase_line", utc(2025, 1, 4), 7)  # no category
    await add_event(b, "purchase_line", utc(2025, 2, 4), 1000, category="hats")  # after the frame

    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1), options=JANUARY)
    top = dashboard.panel("top_categories")

    assert top.series[0].name == "revenue"
    assert [(p.label, p.value) for p in top.series[0].points] == [
        ("shoes", 150), ("bags", 80), ("other", 15), ("unknown", 7),
    ]  # fmt: skip


async def test_segment_spending_counts_members_only():
    database = await new_database()
    a = await add_contact(database, country="IT")
    b = await add_contact(database, country="FR")
    await add_event(a, "purchase", utc(2025, 1, 5), 30)
    await add_event(b, "purchase", utc(2025, 1, 5), 300)
    members = (
        "SELECT id AS contact_id FROM contact WHERE database_id = $1::int AND country = $2::text",
        [database.id, "FR"],
    )

    dashboard = await compute_dashboard(
        database.id, members, as_of=utc(2025, 3, 1), options=JANUARY
    )

    assert summary(dashboard.panel("spend_distribution")) == {
        "contacts": 1, "buyers": 1, "purchases": 1, "revenue": 300,
    }  # fmt: skip


async def _plan(database):
    profile = await Profile.create(name=f"p{database.id}")
    user = await User.create(username=f"u{database.id}", password_hash="x", profile=profile)
    segment = await Segment.create(database=database, name="s", author=user, definition={})
    return await Plan.create(database=database, segment=segment, name="p", author=user, schedule={})


async def _run(plan, finished_at, groups):
    run = await PlanRun.create(
        plan=plan,
        trigger=RunTrigger.MANUAL,
        scheduled_for=finished_at - timedelta(hours=1),
        as_of=finished_at - timedelta(hours=1),
        started_at=finished_at - timedelta(hours=1),
        finished_at=finished_at,
    )
    for status, contacts in groups.items():
        for contact in contacts:
            await Recipient.create(run=run, contact_id=contact.id, status=status)
    return run


async def test_influenced_purchases_compare_recipients_with_the_control_group():
    database = await new_database()
    a, b, c, d, e, f, g, h = [await add_contact(database) for _ in range(8)]
    plan = await _plan(database)
    t1, t2 = utc(2025, 1, 10, 12), utc(2025, 2, 10, 12)
    run1 = await _run(
        plan, t1, {"sent": [a, b, c, d], "control": [e, f], "excluded": [g], "failed": [h]}
    )
    run2 = await _run(plan, t2, {"sent": [a], "control": [e]})
    await add_event(a, "purchase", t1 + timedelta(days=1), 100)
    await add_event(b, "purchase", t1 + timedelta(days=8), 70)  # after 7 days
    await add_event(c, "purchase", t1 - timedelta(minutes=30), 40)  # before the run ended
    await add_event(e, "purchase", t1 + timedelta(days=2), 50)
    await add_event(g, "purchase", t1 + timedelta(days=1), 500)  # excluded: not compared
    await add_event(h, "purchase", t1 + timedelta(days=1), 500)  # failed: not compared
    await add_event(a, "purchase", t2 + timedelta(days=3), 20)
    await add_event(a, "email_opened", t2 + timedelta(days=3))

    options = DashboardOptions(plan_id=plan.id, influence_days=7)
    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1), options=options)
    panel = dashboard.panel("influenced_purchases")

    labels = [f"run {run1.id} 2025-01-10", f"run {run2.id} 2025-02-10"]
    assert [s.name for s in panel.series] == ["recipients", "control"]
    assert values(panel, 0) == {labels[0]: 25.0, labels[1]: 100.0}
    assert values(panel, 1) == {labels[0]: 50.0, labels[1]: 0.0}
    totals = summary(panel)
    assert totals["recipients"] == 5 and totals["control"] == 3
    assert totals["recipient buyers"] == 2 and totals["control buyers"] == 1
    assert totals["recipient conversion %"] == pytest.approx(40.0)
    assert totals["control conversion %"] == pytest.approx(100 / 3)
    assert totals["lift %"] == pytest.approx(20.0)
    assert totals["recipient revenue"] == 120 and totals["control revenue"] == 50
    assert totals["incremental buyers"] == pytest.approx((40 - 100 / 3) / 100 * 5)

    longer = DashboardOptions(plan_id=plan.id, influence_days=10)
    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1), options=longer)
    assert values(dashboard.panel("influenced_purchases"), 0)[labels[0]] == 50.0


async def test_no_lift_without_control_buyers_and_no_panel_without_a_plan():
    database = await new_database()
    a, e = await add_contact(database), await add_contact(database)
    plan = await _plan(database)
    t = utc(2025, 1, 10)
    await _run(plan, t, {"sent": [a], "control": [e]})
    await add_event(a, "purchase", t + timedelta(days=1), 10)

    options = DashboardOptions(plan_id=plan.id)
    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1), options=options)
    plain = await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1))

    assert "lift %" not in summary(dashboard.panel("influenced_purchases"))
    with pytest.raises(KeyError):
        plain.panel("influenced_purchases")


async def test_a_plan_of_another_database_is_refused():
    database, other = await new_database(), await new_database()
    plan = await _plan(other)

    with pytest.raises(DashboardError) as error:
        options = DashboardOptions(plan_id=plan.id)
        await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1), options=options)
    assert (error.value.path, error.value.code) == ("planId", "not_found")
