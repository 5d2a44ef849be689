"""Event panels: time buckets in the database's time zone across month, quarter, year ends."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from segmentation.dashboards import DashboardOptions, Grain, PanelKind, compute_dashboard
from tests.segmentation.dashboards_data import add_contact, add_event, day, new_database, utc

pytestmark = pytest.mark.usefixtures("db")
NEW_YORK = ZoneInfo("America/New_York")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def series(panel, name: str) -> dict[str, float]:
    found = [s for s in panel.series if s.name == name]
    assert len(found) == 1, [s.name for s in panel.series]
    return {p.label: p.value for p in found[0].points}


@pytest.fixture
async def new_york_events():
    """Events either side of New Year and of a quarter end, in New York time."""
    database = await new_database(timezone="America/New_York")
    contact = await add_contact(database)
    await add_event(contact, "email_opened", local(2024, 11, 30, 23, 59))  # before the frame
    await add_event(contact, "email_opened", local(2024, 12, 31, 23, 30))  # 04:30 UTC 1 Jan
    await add_event(contact, "purchase", local(2025, 1, 1, 0, 30), 10)
    await add_event(contact, "page_visited", local(2025, 3, 31, 23, 30))  # 03:30 UTC 1 April
    await add_event(contact, "email_opened", local(2025, 4, 1, 0, 30))
    await add_event(contact, "email_opened", local(2025, 5, 1, 0, 0))  # the frame's end: out
    return database


async def events_at(database, grain: Grain, since: str, until: str):
    options = DashboardOptions(grain=grain, since=day(since), until=day(until))
    return await compute_dashboard(database.id, None, as_of=utc(2025, 6, 1), options=options)


async def test_month_buckets_are_local_months_with_empty_ones_kept(new_york_events):
    dashboard = await events_at(new_york_events, Grain.MONTH, "2024-12-01", "2025-05-01")
    by_category = dashboard.panel("events_by_category")

    assert by_category.kind is PanelKind.LINE
    assert series(by_category, "message") == {
        "2024-12": 1, "2025-01": 0, "2025-02": 0, "2025-03": 0, "2025-04": 1,
    }  # fmt: skip
    assert series(by_category, "purchase")["2025-01"] == 1
    assert series(by_category, "web")["2025-03"] == 1
    assert [s.name for s in by_category.series] == ["message", "purchase", "web"]


async def test_quarter_and_year_buckets(new_york_events):
    quarters = await events_at(new_york_events, Grain.QUARTER, "2024-12-01", "2025-05-01")
    years = await events_at(new_york_events, Grain.YEAR, "2024-12-01", "2025-05-01")

    by_type = quarters.panel("events_by_type")
    assert series(by_type, "email_opened") == {"2024-Q4": 1, "2025-Q1": 0, "2025-Q2": 1}
    assert series(by_type, "page_visited") == {"2024-Q4": 0, "2025-Q1": 1, "2025-Q2": 0}
    assert series(years.panel("events_by_type"), "email_opened") == {"2024": 1, "2025": 1}
    assert series(years.panel("events_by_category"), "purchase") == {"2024": 0, "2025": 1}


async def test_day_buckets_split_at_local_midnight(new_york_events):
    dashboard = await events_at(new_york_events, Grain.DAY, "2024-12-31", "2025-01-02")
    by_type = dashboard.panel("events_by_type")

    assert series(by_type, "email_opened") == {"2024-12-31": 1, "2025-01-01": 0}
    assert series(by_type, "purchase") == {"2024-12-31": 0, "2025-01-01": 1}


async def test_default_frame_ends_at_the_as_of_time_and_starts_eleven_months_earlier():
    database = await new_database()
    contact = await add_contact(database)
    await add_event(contact, "page_visited", utc(2024, 4, 30, 23))  # too old
    await add_event(contact, "page_visited", utc(2024, 5, 1, 1))
    await add_event(contact, "page_visited", utc(2025, 4, 15, 11))
    await add_event(contact, "page_visited", utc(2025, 4, 15, 13))  # after the as-of time

    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 4, 15, 12))
    visits = series(dashboard.panel("events_by_type"), "page_visited")

    labels = list(visits)
    assert (labels[0], labels[-1], len(labels)) == ("2024-05", "2025-04", 12)
    assert visits["2024-05"] == 1 and visits["2025-04"] == 1
    assert sum(visits.values()) == 2


async def test_segment_events_count_only_members_events(new_york_events):
    other = await add_contact(new_york_events, country="IT")
    await add_event(other, "purchase", local(2025, 1, 10), 5)
    members = (
        "SELECT id AS contact_id FROM contact WHERE database_id = $1::int AND country = 'IT'",
        [new_york_events.id],
    )
    options = DashboardOptions(grain=Grain.YEAR, since=day("2024-12-01"), until=day("2025-05-01"))

    dashboard = await compute_dashboard(
        new_york_events.id, members, as_of=utc(2025, 6, 1), options=options
    )

    by_type = dashboard.panel("events_by_type")
    assert [s.name for s in by_type.series] == ["purchase"]
    assert series(by_type, "purchase") == {"2024": 0, "2025": 1}
