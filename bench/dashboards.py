"""Benchmark: the whole-database dashboard and a segment dashboard, cold and cached.

Needs a demo database made by `bench.datagen` (1,000,000 contacts / ~10,000,000 events):

    python -m bench.datagen --contacts 1000000 --database-url postgres://.../contactplan_bench
    python -m bench.dashboards [--database-url URL] [--redis-url URL] [--name demo] [--repeat 3]
                               [--parallel 4] [--large]

Cold = computed from PostgreSQL (the Redis copy is bypassed with force=True); cached = read
back from Redis. Goal on the reference machine: a whole dashboard under 2 s cold, 50 ms cached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from tortoise import Tortoise, connections

from bench.datagen import REFERENCE_TIME
from contactplan.db import tortoise_config
from segmentation import compile_for_database, count_members
from segmentation.dashboards import DashboardCache, DashboardOptions, compute_dashboard

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contactplan_bench"

# A segment like the ones users build: Italians who bought in the last 90 days (~7%).
SEGMENT = {
    "root": {
        "and": [
            {"contact": {"conditions": [{"field": "country", "op": "eq", "value": "IT"}]}},
            {"event": {"type": "purchase", "window": {"last": {"amount": 90, "unit": "day"}}}},
        ]
    }
}
# A large one (--large): men, ~45% of the contacts; some panels then scan instead of looking
# members up (segmentation/dashboards/sql.py, *_LOOKUP_SHARE).
LARGE_SEGMENT = {
    "root": {"contact": {"conditions": [{"field": "gender", "op": "eq", "value": "M"}]}}
}


async def _timed(label: str, repeat: int, run) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        dashboard = await run()
        times.append(time.perf_counter() - start)
    print(
        f"{label:<28} median {statistics.median(times) * 1000:8.1f} ms"
        f"  min {min(times) * 1000:8.1f} ms  max {max(times) * 1000:8.1f} ms"
        f"  ({len(dashboard.panels)} panels, from cache: {dashboard.from_cache})"
    )
    return times


async def bench(
    database_url: str, redis_url: str, name: str, repeat: int, parallel: int, large: bool
) -> None:
    await Tortoise.init(config=tortoise_config(database_url))
    cache = DashboardCache.from_url(redis_url, prefix="contactplan:bench-dashboard")
    try:
        db = connections.get("default")
        rows = await db.execute_query_dict(
            "SELECT d.id, (SELECT count(*) FROM contact c WHERE c.database_id = d.id) AS contacts,"
            " (SELECT count(*) FROM event e WHERE e.database_id = d.id) AS events"
            " FROM contact_database d WHERE d.name = $1",
            [name],
        )
        if not rows:
            raise SystemExit(f"no contact database {name!r}: run bench.datagen first")
        database_id = rows[0]["id"]
        print(
            f"database {name!r}: {rows[0]['contacts']:,} contacts, {rows[0]['events']:,} events;"
            f" {parallel} connections; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        as_of = REFERENCE_TIME
        scopes: list[tuple[str, object, int | None, object]] = [
            ("whole database", None, None, None)
        ]
        segments = [("segment", SEGMENT, "Italians who bought lately")]
        if large:
            segments.append(("large segment", LARGE_SEGMENT, "men"))
        for i, (label, definition, what) in enumerate(segments, 1):
            members = await compile_for_database(definition, database_id, as_of)
            count = await count_members(members)
            print(f"{label}: {count:,} members ({what}), {count / rows[0]['contacts']:.1%}")
            scopes.append((label, members, i, definition))
        options = DashboardOptions()
        for label, scope, segment_id, definition in scopes:

            def run(scope=scope, segment_id=segment_id, definition=definition, force=True):
                return compute_dashboard(
                    database_id, scope, as_of=as_of, options=options, cache=cache,
                    segment_id=segment_id, force=force, max_parallel=parallel,
                    definition=definition,
                )  # fmt: skip

            await _timed(f"{label}: cold", repeat, run)
            await _timed(f"{label}: cached", repeat, lambda run=run: run(force=False))
        await cache.invalidate(database_id)
    finally:
        await cache.client.aclose()
        await Tortoise.close_connections()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboards", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--name", default="demo", help="contact database name")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4, help="connections per dashboard")
    parser.add_argument("--large", action="store_true", help="also a ~45%% segment (men)")
    args = parser.parse_args(argv)
    asyncio.run(
        bench(args.database_url, args.redis_url, args.name, args.repeat, args.parallel, args.large)
    )


if __name__ == "__main__":
    main()
