"""Dashboard orchestration: parallel panels on separate connections, the Redis cache, size."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from tortoise import connections

from models import Profile, Segment, User
from segmentation import compile_for_database
from segmentation.dashboards import (
    DashboardCache,
    DashboardOptions,
    Panel,
    PanelKind,
    Point,
    Series,
    compute_dashboard,
    take_snapshot,
)
from segmentation.dashboards.compute import panel_jobs, run_jobs
from segmentation.dashboards.context import PanelContext
from segmentation.dashboards.sql import Scope
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


@pytest.fixture
async def cache(redis, redis_url):
    cache = DashboardCache.from_url(redis_url, ttl_seconds=600)
    yield cache
    await cache.client.aclose()


def country_count(dashboard) -> float:
    return sum(values(dashboard.panel("country")).values())


async def test_panels_run_at_once_each_on_its_own_connection():
    together = asyncio.Barrier(4)  # passed only when all four jobs run at the same time

    async def probe(conn, ctx):
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        await together.wait()
        point = Point(str(pid), 1.0)
        return [Panel("probe", "", PanelKind.BAR, (Series("s", (point,)),), "", ctx.computed_at)]

    ctx = PanelContext(Scope(1), "UTC", utc(2025, 1, 1), DashboardOptions(), utc(2025, 1, 1))
    async with asyncio.timeout(30):  # jobs run one after another would wait here forever
        panels = await run_jobs(connections.get("default"), [probe] * 4, ctx, max_parallel=4)

    assert len({p.series[0].points[0].label for p in panels}) == 4


async def test_a_dashboard_has_every_panel_in_display_order():
    database = await new_database()
    await add_contact(database)
    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1))

    assert [p.key for p in dashboard.panels] == [
        "age_bands", "gender", "country", "city", "contactability", "events_by_category",
        "events_by_type", "spend_distribution", "purchase_count_distribution", "top_categories",
    ]  # fmt: skip
    assert all(p.computed_at == dashboard.computed_at for p in dashboard.panels)


async def test_cache_miss_then_hit_then_forced_reload(cache):
    database = await new_database()
    await add_contact(database, country="IT")

    first = await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1, 9), cache=cache)
    await add_contact(database, country="IT")
    second = await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1, 17), cache=cache)
    forced = await compute_dashboard(
        database.id, None, as_of=utc(2025, 1, 1, 17), cache=cache, force=True
    )
    after = await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1, 18), cache=cache)

    assert (first.from_cache, second.from_cache, forced.from_cache, after.from_cache) == (
        False, True, False, True,
    )  # fmt: skip
    assert second.panels == first.panels and second.computed_at == first.computed_at
    assert (country_count(second), country_count(forced), country_count(after)) == (1, 2, 2)


async def test_cache_keys_separate_days_options_segments_and_databases(cache, redis):
    database = await new_database()
    await add_contact(database, country="IT")
    members = ("SELECT id AS contact_id FROM contact WHERE database_id = $1::int", [database.id])

    await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1), cache=cache)
    runs = [
        await compute_dashboard(database.id, None, as_of=utc(2025, 1, 2), cache=cache),
        await compute_dashboard(
            database.id, None, as_of=utc(2025, 1, 1), cache=cache,
            options=DashboardOptions(top_n=3),
        ),
        await compute_dashboard(database.id, members, as_of=utc(2025, 1, 1), cache=cache),
        await compute_dashboard(
            database.id, members, as_of=utc(2025, 1, 1), cache=cache, segment_id=7
        ),
    ]  # fmt: skip

    assert [d.from_cache for d in runs] == [False] * 4
    keys = redis.keys(f"contactplan:dashboard:{database.id}:*")
    assert len(keys) == 5
    assert all(0 < redis.ttl(key) <= 600 for key in keys)
    assert await cache.invalidate(database.id, 7) == 1
    assert await cache.invalidate(database.id) == 4


async def test_a_segment_definition_keys_the_cache_whatever_its_compiled_parameters(cache):
    database = await new_database()
    await add_contact(database, country="IT")
    definition = {"root": {"and": []}}

    def members(as_of):  # a relative window compiles to a new instant at every as-of
        sql = (
            "SELECT id AS contact_id FROM contact WHERE database_id = $1::int"
            " AND created_at < $2::timestamptz"
        )
        return sql, [database.id, as_of + timedelta(days=1)]

    morning, evening = utc(2025, 1, 1, 8), utc(2025, 1, 1, 20)
    first = await compute_dashboard(
        database.id, members(morning), as_of=morning, cache=cache, definition=definition
    )
    second = await compute_dashboard(
        database.id, members(evening), as_of=evening, cache=cache, definition=definition
    )

    assert (first.from_cache, second.from_cache) == (False, True)


async def _segment(database) -> Segment:
    profile = await Profile.create(name=f"p{database.id}")
    user = await User.create(username=f"u{database.id}", password_hash="x", profile=profile)
    return await Segment.create(database=database, name="s", author=user, definition={})


async def test_size_over_time_shows_daily_snapshots_of_the_last_days():
    database = await new_database()
    segment = await _segment(database)
    await take_snapshot(segment.id, day("2025-01-01"), 10)  # older than size_days
    await take_snapshot(segment.id, day("2025-01-20"), 11)
    await take_snapshot(segment.id, day("2025-01-22"), 12)
    await take_snapshot(segment.id, day("2025-01-22"), 15)  # a later count of the same day
    await take_snapshot(segment.id, day("2025-01-31"), 99)  # after the as-of day
    members = ("SELECT id AS contact_id FROM contact WHERE database_id = $1::int", [database.id])
    options = DashboardOptions(size_days=10)

    dashboard = await compute_dashboard(
        database.id, members, as_of=utc(2025, 1, 25), options=options, segment_id=segment.id
    )
    size = dashboard.panel("size_over_time")

    assert size.kind is PanelKind.LINE
    assert values(size) == {"2025-01-20": 11, "2025-01-22": 15}


async def test_panel_jobs_add_influence_and_size_only_when_asked():
    ctx = PanelContext(Scope(1), "UTC", utc(2025, 1, 1), DashboardOptions(), utc(2025, 1, 1))
    asked = PanelContext(
        Scope(1), "UTC", utc(2025, 1, 1), DashboardOptions(plan_id=3), utc(2025, 1, 1), 5
    )

    assert len(panel_jobs(asked, [])) == len(panel_jobs(ctx, [])) + 2


async def test_a_compiled_segment_is_a_member_set():
    database = await new_database()
    await add_contact(database, country="IT", gender="F")
    await add_contact(database, country="IT", gender="M")
    await add_contact(database, country="FR", gender="F")
    definition = {
        "root": {"contact": {"conditions": [{"field": "gender", "op": "eq", "value": "F"}]}}
    }
    as_of = utc(2025, 1, 1)
    compiled = await compile_for_database(definition, database.id, as_of)

    dashboard = await compute_dashboard(database.id, compiled, as_of=as_of, definition=definition)

    assert values(dashboard.panel("country")) == {"FR": 1, "IT": 1}
    assert values(dashboard.panel("gender")) == {"F": 2}


async def test_a_failing_member_set_raises_and_leaves_the_pool_usable():
    database = await new_database()
    await add_contact(database, country="IT")
    broken = ("SELECT id / 0 AS contact_id FROM contact WHERE database_id = $1::int", [database.id])
    members = ("SELECT id AS contact_id FROM contact WHERE database_id = $1::int", [database.id])

    with pytest.raises(asyncpg.DivisionByZeroError):
        await compute_dashboard(database.id, broken, as_of=utc(2025, 1, 1), max_parallel=4)
    # The failed member table was dropped: nothing is left behind.
    assert await _member_tables() == []
    dashboard = await compute_dashboard(database.id, members, as_of=utc(2025, 1, 1), max_parallel=4)

    assert values(dashboard.panel("country")) == {"IT": 1}


async def _member_tables() -> list[str]:
    rows = await connections.get("default").execute_query_dict(
        "SELECT relname FROM pg_class WHERE relname LIKE 'dashboard\\_members\\_%'"
    )
    return [row["relname"] for row in rows]


@pytest.mark.parametrize("per_member", [True, False, None])
async def test_a_member_set_read_member_by_member_or_by_scanning_counts_the_same(per_member):
    database = await new_database()
    a = await add_contact(database, country="IT", gender="F")
    b = await add_contact(database, country="IT", gender="M")
    c = await add_contact(database, country="FR", gender="F")
    for contact, amount in ((a, 30), (a, 70), (b, 600), (c, 5000)):
        await add_event(contact, "purchase", utc(2025, 1, 5), amount)
    await add_event(a, "purchase_line", utc(2025, 1, 5), 30, category="shoes")
    await add_event(b, "purchase_line", utc(2025, 1, 6), 600, category="bags")
    await add_event(c, "purchase_line", utc(2025, 1, 6), 5000, category="cars")
    await add_event(a, "email_opened", utc(2025, 2, 1))
    await add_event(b, "purchase", utc(2024, 12, 31), 1)  # before the time frame
    # Italians, one listed twice: a member counts once whichever way its events are read.
    italians = "SELECT id AS contact_id FROM contact WHERE database_id = $1::int AND country = $2"
    members = (f"{italians} UNION ALL {italians}", [database.id, "IT"])
    options = DashboardOptions(since=day("2025-01-01"), until=day("2025-03-01"))

    dashboard = await compute_dashboard(
        database.id, members, as_of=utc(2025, 3, 1), options=options, per_member=per_member
    )

    assert values(dashboard.panel("gender")) == {"F": 1, "M": 1}
    spend = dashboard.panel("spend_distribution")
    assert summary(spend) == {"contacts": 2, "buyers": 2, "purchases": 3, "revenue": 700}
    assert values(spend)["100-250"] == 1 and values(spend)["500-1000"] == 1
    assert values(dashboard.panel("top_categories")) == {"bags": 600, "shoes": 30}
    by_category = {s.name: values(dashboard.panel("events_by_category"), i)
                   for i, s in enumerate(dashboard.panel("events_by_category").series)}  # fmt: skip
    assert by_category == {
        "message": {"2025-01": 0, "2025-02": 1},
        "purchase": {"2025-01": 5, "2025-02": 0},
    }
    assert await _member_tables() == []
