"""Segment benchmark: compiled statements against hand-written SQL on the demo data.

Builds (or reuses) the demo contact database (bench/datagen.py) and times a fixed set of
segment shapes, each as compiled by `segmentation` and as a hand-written statement for the
same question, in the same run. Prints count, compiled time, hand-written time (best of
--repeat rounds) and the ratio: the median over rounds of compiled / hand-written, each
round timing the two back to back, so a slow moment of a shared machine weighs on both
sides of one ratio instead of on one side of the best-of times. Not a test: run it by hand.

    python -m bench.segments --contacts 1000000 [--database-url URL] [--name demo] [--repeat 3]
                             [--cpu] [--only TEXT]

With `--cpu` (PostgreSQL on this machine), it also prints the server CPU seconds of each
statement run without parallel workers: on a shared, busy machine that is close to what
the statement takes alone, where wall-clock times mostly measure the other load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from tortoise import Tortoise

from bench.datagen import REFERENCE_TIME, generate
from contactplan.db import credentials_from_url, tortoise_config
from segmentation import Catalog, compile_definition, load_catalog, prepare_segment
from segmentation.compile import sample_bucket_sql, seed_number
from segmentation.values import EvalContext

AS_OF = REFERENCE_TIME


@dataclass(frozen=True)
class Shape:
    """One segment question: a definition and the SQL an expert would write for it."""

    name: str
    definition: dict[str, Any]
    hand_sql: str  # $1 = database id; event type ids are filled by `hand_params`
    hand_types: tuple[str, ...] = ()  # event type keys bound as $2, $3...
    window_days: int | None = None  # hand SQL binds [as_of - N days wall clock, as_of] as $3, $4


def last(days: int) -> dict:
    return {"last": {"amount": days, "unit": "day"}}


ITALIAN_WOMEN = {
    "contact": {
        "conditions": [
            {"field": "gender", "op": "eq", "value": "F"},
            {"field": "country", "op": "eq", "value": "IT"},
            {"field": "consent_email", "op": "eq", "value": True},
        ]
    }
}
BIG_SPENDERS = {
    "event": {
        "type": "purchase",
        "window": last(90),
        "aggregate": {"fn": "sum", "op": "gt", "value": 500},
    }
}
# The same 32-bit hash the compiler uses for samples, written out with the seed as a literal.
CONTROL_BUCKET = sample_bucket_sql("c.id", str(seed_number("ctl")))
SEGMENTS = {1: {"root": ITALIAN_WOMEN}, 2: {"root": BIG_SPENDERS}}

SHAPES = [
    Shape(
        "demographic only",
        {"root": ITALIAN_WOMEN},
        "SELECT count(*) FROM contact c WHERE c.database_id = $1 AND c.gender = 'F'"
        " AND c.country = 'IT' AND c.consent_email",
    ),
    Shape(
        "demographic + event in 30 days",
        {"root": {"and": [ITALIAN_WOMEN, {"event": {"type": "email_opened", "window": last(30)}}]}},
        "SELECT count(*) FROM contact c WHERE c.database_id = $1 AND c.gender = 'F'"
        " AND c.country = 'IT' AND c.consent_email AND EXISTS (SELECT 1 FROM event e"
        " WHERE e.contact_id = c.id AND e.event_type_id = $2"
        " AND e.occurred_at >= $3 AND e.occurred_at <= $4)",
        ("email_opened",),
        window_days=30,
    ),
    Shape(
        "occurrences: >= 3 orders in a year",
        {
            "root": {
                "event": {
                    "type": "purchase",
                    "window": last(365),
                    "count": {"op": "gte", "value": 3},
                }
            }
        },
        "SELECT count(*) FROM (SELECT e.contact_id FROM event e JOIN contact c ON c.id ="
        " e.contact_id AND c.database_id = $1 WHERE e.event_type_id = $2"
        " AND e.occurred_at >= $3 AND e.occurred_at <= $4"
        " GROUP BY e.contact_id HAVING count(*) >= 3) s",
        ("purchase",),
        window_days=365,
    ),
    Shape(
        "aggregate: spent > 500 in 90 days",
        {"root": BIG_SPENDERS},
        "SELECT count(*) FROM (SELECT e.contact_id FROM event e JOIN contact c ON c.id ="
        " e.contact_id AND c.database_id = $1 WHERE e.event_type_id = $2"
        " AND e.occurred_at >= $3 AND e.occurred_at <= $4"
        " GROUP BY e.contact_id HAVING sum(e.value) > 500) s",
        ("purchase",),
        window_days=90,
    ),
    Shape(
        "have not: consent, no order in 180 days",
        {
            "root": {
                "and": [
                    {
                        "contact": {
                            "conditions": [{"field": "consent_email", "op": "eq", "value": True}]
                        }
                    },
                    {"event": {"type": "purchase", "have": False, "window": last(180)}},
                ]
            }
        },
        "SELECT count(*) FROM contact c WHERE c.database_id = $1 AND c.consent_email"
        " AND NOT EXISTS (SELECT 1 FROM event e WHERE e.contact_id = c.id"
        " AND e.event_type_id = $2 AND e.occurred_at >= $3"
        " AND e.occurred_at <= $4)",
        ("purchase",),
        window_days=180,
    ),
    Shape(
        "% threshold: shoes on >= 30% of lines",
        {
            "root": {
                "event": {
                    "type": "purchase_line",
                    "conditions": [{"property": "category", "op": "eq", "value": "shoes"}],
                    "share": {"op": "gte", "percent": 30},
                }
            }
        },
        "SELECT count(*) FROM (SELECT e.contact_id FROM event e JOIN contact c ON c.id ="
        " e.contact_id AND c.database_id = $1 WHERE e.event_type_id = $2 GROUP BY e.contact_id"
        " HAVING count(*) FILTER (WHERE e.category = 'shoes') * 100.0"
        " / count(*) >= 30) s",
        ("purchase_line",),
    ),
    Shape(
        "correlation: order within 5 days of first open",
        {
            "root": {
                "correlation": {
                    "first": {"type": "purchase", "occurrence": "last"},
                    "second": {"type": "email_opened", "occurrence": "first"},
                    "op": "within_after",
                    "days": 5,
                }
            }
        },
        "SELECT count(*) FROM (SELECT e.contact_id, max(e.occurred_at) AS t FROM event e"
        " WHERE e.event_type_id = $2 GROUP BY e.contact_id) p JOIN (SELECT e.contact_id,"
        " min(e.occurred_at) AS t FROM event e WHERE e.event_type_id = $3 GROUP BY e.contact_id)"
        " o ON o.contact_id = p.contact_id JOIN contact c ON c.id = p.contact_id"
        " AND c.database_id = $1 WHERE p.t >= o.t AND p.t - o.t <= interval '5 days'",
        ("purchase", "email_opened"),
    ),
    Shape(
        "combined: (seg 1 OR seg 2) EXCLUDE 10% sample",
        {
            "root": {
                "sequence": [
                    {"rule": {"segment": {"id": 1}}},
                    {"join": "or", "rule": {"segment": {"id": 2}}},
                    {
                        "join": "except",
                        "rule": {"sample": {"seed": "ctl", "buckets": 100, "from": 0, "to": 10}},
                    },
                ]
            }
        },
        "SELECT count(*) FROM contact c WHERE c.database_id = $1 AND ((c.gender = 'F'"
        " AND c.country = 'IT' AND c.consent_email) OR c.id IN (SELECT e.contact_id FROM event e"
        " WHERE e.event_type_id = $2 AND e.occurred_at >= $3"
        " AND e.occurred_at <= $4 GROUP BY e.contact_id HAVING sum(e.value) > 500))"
        f" AND {CONTROL_BUCKET} % 100 >= 10",
        ("purchase",),
        window_days=90,
    ),
]


async def _time(conn: asyncpg.Connection, sql: str, params: list[Any]) -> tuple[int, float]:
    started = time.perf_counter()
    count = await conn.fetchval(sql, *params)
    return count, time.perf_counter() - started


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a local process (a PostgreSQL backend)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _cpu(conn: asyncpg.Connection, pid: int, sql: str, params: list[Any]) -> float:
    before = _cpu_seconds(pid)
    await conn.fetchval(sql, *params)
    return _cpu_seconds(pid) - before


async def run(
    database_url: str,
    contacts: int,
    name: str,
    repeat: int,
    cpu: bool = False,
    only: str | None = None,
) -> None:
    conn = await asyncpg.connect(**credentials_from_url(database_url))
    serial: tuple[asyncpg.Connection, int] | None = None
    try:
        row = await conn.fetchrow(
            "SELECT d.id, (SELECT count(*) FROM contact c WHERE c.database_id = d.id) AS n"
            " FROM contact_database d WHERE d.name = $1",
            name,
        )
        if row is None or row["n"] != contacts:
            print(f"building demo data: {contacts:,} contacts in {name!r}...", flush=True)
            database_id = await generate(database_url, contacts=contacts, name=name)
        else:
            database_id = row["id"]
            print(f"reusing {name!r} (id {database_id}, {row['n']:,} contacts)", flush=True)
        events = await conn.fetchval(
            "SELECT count(*) FROM event WHERE database_id = $1", database_id
        )
        await conn.execute("ANALYZE contact; ANALYZE event")
        await Tortoise.init(config=tortoise_config(database_url))
        catalog = await load_catalog(database_id)
        print(f"{events:,} events; as-of {AS_OF.isoformat()}; best of {repeat} runs\n")
        header = f"{'shape':<48} {'count':>9} {'compiled s':>11} {'hand s':>8} {'ratio':>6}"
        if cpu:
            serial_conn = await asyncpg.connect(**credentials_from_url(database_url))
            await serial_conn.execute("SET max_parallel_workers_per_gather = 0")
            serial = (serial_conn, await serial_conn.fetchval("SELECT pg_backend_pid()"))
            header += f" {'cpu c':>6} {'cpu h':>6}"
        print(header)
        print("-" * len(header))
        for shape in SHAPES:
            if only is None or only in shape.name:
                await _bench_shape(conn, catalog, shape, repeat, serial)
    finally:
        await conn.close()
        if serial is not None:
            await serial[0].close()
        await Tortoise.close_connections()


async def _bench_shape(
    conn: asyncpg.Connection,
    catalog: Catalog,
    shape: Shape,
    repeat: int,
    serial: tuple[asyncpg.Connection, int] | None = None,
):
    async def resolve(segment_id: int):
        return SEGMENTS.get(segment_id)

    segment = await prepare_segment(shape.definition, catalog, resolve_segment=resolve)
    compiled = compile_definition(segment, catalog, AS_OF)
    compiled_sql = f"SELECT count(*) FROM ({compiled.sql}) s"
    hand_params: list[Any] = [catalog.database_id]
    hand_params += [catalog.event_types[key].id for key in shape.hand_types]
    if shape.window_days is not None:  # the same DST-aware bounds the compiler resolves
        ctx = EvalContext(AS_OF, catalog.timezone)
        hand_params += [ctx.shifted(-shape.window_days, "day"), AS_OF]
    compiled_times, hand_times = [], []
    compiled_count = hand_count = None
    for i in range(repeat + 1):  # the first round warms the cache and is not counted
        if i % 2:  # which side runs first alternates: neither always finds the other's cache
            hand_count, t_hand = await _time(conn, shape.hand_sql, hand_params)
            compiled_count, t_compiled = await _time(conn, compiled_sql, compiled.params)
        else:
            compiled_count, t_compiled = await _time(conn, compiled_sql, compiled.params)
            hand_count, t_hand = await _time(conn, shape.hand_sql, hand_params)
        if i:
            compiled_times.append(t_compiled)
            hand_times.append(t_hand)
    best_c, best_h = min(compiled_times), min(hand_times)
    ratio = statistics.median(c / h for c, h in zip(compiled_times, hand_times, strict=True))
    mark = "" if compiled_count == hand_count else f"  MISMATCH hand={hand_count}"
    cpu = ""
    if serial is not None:
        c_cpu = min([await _cpu(*serial, compiled_sql, compiled.params) for _ in range(repeat)])
        h_cpu = min([await _cpu(*serial, shape.hand_sql, hand_params) for _ in range(repeat)])
        cpu = f" {c_cpu:>6.2f} {h_cpu:>6.2f}"
    print(
        f"{shape.name:<48} {compiled_count:>9,} {best_c:>11.3f} {best_h:>8.3f}"
        f" {ratio:>6.2f}{cpu}{mark}"
        f"  (median {statistics.median(compiled_times):.3f})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.segments", description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--name", default="demo")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument(
        "--cpu", action="store_true", help="also print server CPU seconds, no parallel workers"
    )
    parser.add_argument("--only", help="time only the shapes whose name contains this text")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required")
    asyncio.run(run(args.database_url, args.contacts, args.name, args.repeat, args.cpu, args.only))


if __name__ == "__main__":
    main()
