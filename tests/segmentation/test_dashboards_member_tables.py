"""Orphan dashboard member tables (a computation that crashed before its `finally`) are
dropped once they are older than an hour; fresh ones and other tables are not."""

from __future__ import annotations

import time

from segmentation.dashboards.member_tables import MAX_AGE_SECONDS, drop_orphans, new_table_name
from segmentation.run import connection

_EXISTS = "SELECT to_regclass($1) IS NOT NULL"


async def test_old_member_tables_are_dropped_and_nothing_else(orm: None) -> None:
    now = time.time()
    orphan = new_table_name(now - MAX_AGE_SECONDS - 60)
    running = new_table_name(now - 30)  # a computation in progress
    legacy_shape = "dashboard_members_" + "a" * 32  # not a name new_table_name makes
    async with connection() as conn:
        for table in (orphan, running, legacy_shape):
            await conn.execute(f'CREATE UNLOGGED TABLE "{table}" (contact_id bigint)')
        try:
            dropped = await drop_orphans(conn, now=now)
            assert orphan in dropped and running not in dropped
            assert not await conn.fetchval(_EXISTS, orphan)
            assert await conn.fetchval(_EXISTS, running)
            assert await conn.fetchval(_EXISTS, legacy_shape)
            assert await conn.fetchval(_EXISTS, "contact")
            assert await drop_orphans(conn, now=now) == []  # nothing left to drop
        finally:
            for table in (orphan, running, legacy_shape):
                await conn.execute(f'DROP TABLE IF EXISTS "{table}"')


def test_names_carry_their_time_and_differ() -> None:
    a, b = new_table_name(1_800_000_000), new_table_name(1_800_000_000)
    assert a.startswith("dashboard_members_1800000000_") and a != b
    assert len(a) <= 63  # PostgreSQL's identifier limit


def test_the_worker_scheduler_runs_the_sweep() -> None:
    from actors.dashboard_sweep import sweep_dashboard_tables
    from actors.worker import TICKS, load_actor_modules

    load_actor_modules()
    assert sweep_dashboard_tables in TICKS
