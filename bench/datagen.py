"""The demo data generator: a contact database with realistic, deterministic contacts and events.

`generate()` creates the database with the standard catalog plus a few typed attribute fields,
then COPYs contacts and events chunk by chunk (the next chunk is generated in a thread while
PostgreSQL ingests the current one), all in one transaction. The same seed and number of
contacts always give the same data; every event lies in the two years before REFERENCE_TIME.

    python -m bench.datagen --contacts 1000000 [--seed 7] [--name demo] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import sys
import time
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from bench.datagen_rows import (
    CHUNK_CONTACTS,
    CONTACT_COLUMNS,
    EVENT_COLUMNS,
    LOYALTY_TIERS,
    REFERENCE_TIME,
    WINDOW_START,
    World,
    build_chunk,
)
from contactplan.db import credentials_from_url, tortoise_config
from models.contacts import CONTACT_COLUMNS as CONTACT_TABLE_COLUMNS
from models.enums import DataType, FieldKind, FieldStorage

__all__ = ["CUSTOM_FIELDS", "REFERENCE_TIME", "WINDOW_START", "generate", "main"]

# Typed attribute fields (storage=attribute, stored under contact.attributes[key]).
# (key, label, data type, kind, extra catalog columns)
CUSTOM_FIELDS: list[tuple[str, str, DataType, FieldKind, dict[str, Any]]] = [
    ("loyalty_tier", "Loyalty tier", DataType.ENUM, FieldKind.DEMOGRAPHIC,
     {"enum_values": list(LOYALTY_TIERS), "default_in_rules": True}),
    ("points", "Loyalty points", DataType.INTEGER, FieldKind.BEHAVIORAL, {"aggregable": True}),
    ("interests", "Interests", DataType.STRING_LIST, FieldKind.DEMOGRAPHIC, {}),
    ("vip", "VIP", DataType.BOOLEAN, FieldKind.DEMOGRAPHIC, {}),
    ("last_seen", "Last seen", DataType.DATETIME, FieldKind.BEHAVIORAL, {}),
    ("lifetime_value", "Lifetime value", DataType.DECIMAL, FieldKind.BEHAVIORAL,
     {"aggregable": True}),
    ("first_purchase_date", "First purchase", DataType.DATE, FieldKind.BEHAVIORAL, {}),
    ("favourite_store", "Favourite store", DataType.STRING, FieldKind.BEHAVIORAL, {}),
]  # fmt: skip

# Loads that add at least this many events (and more than the table holds) drop the event
# indexes of migrations 0002-0003 and build them again after the COPY: faster than index upkeep.
INDEX_REBUILD_MIN_EVENTS = 1_000_000
# distinct_count is estimated from the first contacts of the database (exact below this).
DISTINCT_SAMPLE = 100_000


class DatabaseExistsError(ValueError):
    """The contact database exists and replace=False."""


async def generate(
    database_url: str,
    *,
    contacts: int,
    seed: int = 7,
    name: str = "demo",
    timezone: str = "Europe/Rome",
    progress: bool = True,
    replace: bool = True,
    events_per_contact: float = 10.0,
) -> int:
    """Create contact database `name` filled with demo data; return its id."""
    if contacts < 0:
        raise ValueError(f"contacts must be >= 0, got {contacts}")
    if events_per_contact < 0:
        raise ValueError(f"events_per_contact must be >= 0, got {events_per_contact}")
    if not 0 < len(name) <= 200:
        raise ValueError(f"name must have 1 to 200 characters, got {name!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {timezone!r} is not an IANA time zone") from None
    bar = ProgressBar(contacts, enabled=progress)
    conn = await asyncpg.connect(**credentials_from_url(database_url))
    try:
        await _drop_existing(conn, name, replace=replace, bar=bar)
        database_id, event_type_ids = await _create_catalog(database_url, name, timezone)
        bar.phase("loading")
        try:
            world = World(seed, event_type_ids, events_per_contact)
            rebuild = await _should_rebuild_indexes(conn, contacts * events_per_contact)
            async with conn.transaction():
                await _load(conn, world, seed, contacts, database_id, rebuild, bar)
        except BaseException:
            with contextlib.suppress(Exception):  # the connection may be gone too
                await conn.execute("DELETE FROM contact_database WHERE id = $1", database_id)
            raise
        bar.phase("vacuum analyze")
        # VACUUM too: it sets the visibility map (index-only scans) and hint bits now, so
        # benchmarks on fresh data measure queries, not first-touch cleanup.
        await conn.execute("VACUUM (ANALYZE) contact, event")
        bar.phase("catalog statistics")
        await _fill_distinct_counts(conn, database_id)
        bar.done()
    finally:
        await conn.close()
    return database_id


async def _drop_existing(
    conn: asyncpg.Connection, name: str, *, replace: bool, bar: ProgressBar
) -> None:
    """Delete contact database `name` and its contacts and events, if replace allows it."""
    database_id = await conn.fetchval("SELECT id FROM contact_database WHERE name = $1", name)
    if database_id is None:
        return
    if not replace:
        raise DatabaseExistsError(f"contact database {name!r} exists (pass replace=True)")
    bar.phase(f"deleting the old {name!r}")
    async with conn.transaction():
        # Explicit deletes in this order are much faster than one cascade per contact.
        await conn.execute("DELETE FROM event WHERE database_id = $1", database_id)
        await conn.execute("DELETE FROM contact WHERE database_id = $1", database_id)
        await conn.execute("DELETE FROM contact_database WHERE id = $1", database_id)


async def _create_catalog(
    database_url: str, name: str, timezone: str
) -> tuple[int, dict[str, int]]:
    """The database with the standard catalog and CUSTOM_FIELDS; its id and event type ids.

    Uses a Tortoise context of its own, so it works whether or not the caller initialised
    Tortoise (the caller's context is restored on exit).
    """
    from tortoise.context import TortoiseContext
    from tortoise.transactions import in_transaction

    from models.catalog import EventType, Field
    from models.standard_catalog import create_contact_database

    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url, minsize=1, maxsize=2))
        async with in_transaction():
            database = await create_contact_database(
                name, timezone=timezone, description="Demo data (bench.datagen)"
            )
            position = await Field.filter(database=database).count()
            await Field.bulk_create(
                [
                    Field(
                        database=database,
                        key=key,
                        label=label,
                        data_type=data_type,
                        storage=FieldStorage.ATTRIBUTE,
                        column=None,
                        kind=kind,
                        position=position + i,
                        **extra,
                    )
                    for i, (key, label, data_type, kind, extra) in enumerate(CUSTOM_FIELDS)
                ]
            )
        types = await EventType.filter(database=database).values_list("key", "id")
    return database.id, dict(types)


async def _should_rebuild_indexes(conn: asyncpg.Connection, new_events: float) -> bool:
    existing = await conn.fetchval(
        "SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'event'::regclass"
    )
    return new_events >= max(INDEX_REBUILD_MIN_EVENTS, existing or 0)


def _event_indexes() -> list[tuple[str, str]]:
    """The event indexes exactly as migrations 0002 and 0003 define them."""
    indexes = []
    for module in ("0002_indexes", "0003_segmentation_speed"):
        migration = importlib.import_module(f"models.migrations.{module}")
        indexes += [(name, sql) for name, sql in migration.INDEXES if " ON event " in sql]
    return indexes


async def _load(
    conn: asyncpg.Connection,
    world: World,
    seed: int,
    contacts: int,
    database_id: int,
    rebuild_indexes: bool,
    bar: ProgressBar,
) -> None:
    """COPY every chunk, generating chunk k+1 in a thread while chunk k is ingested."""
    await conn.execute("SET LOCAL synchronous_commit = off")
    await conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    if await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        # Skip the per-row foreign-key triggers (4x the COPY time): every id written here
        # was just inserted or read from this database's catalog. Superuser only.
        await conn.execute("SET LOCAL session_replication_role = replica")
    indexes = _event_indexes() if rebuild_indexes else []
    for index_name, _ in indexes:
        await conn.execute(f"DROP INDEX IF EXISTS {index_name}")
    sequence = await conn.fetchval("SELECT pg_get_serial_sequence('contact', 'id')")
    chunks = -(-contacts // CHUNK_CONTACTS)

    async def start(chunk_no: int) -> asyncio.Future:
        count = min(CHUNK_CONTACTS, contacts - chunk_no * CHUNK_CONTACTS)
        ids = [
            row[0]
            for row in await conn.fetch(
                "SELECT nextval($1::regclass) FROM generate_series(1, $2)", sequence, count
            )
        ]
        return asyncio.ensure_future(
            asyncio.to_thread(
                build_chunk, world, seed=seed, chunk_no=chunk_no, count=count, ids=ids,
                database_id=database_id,
            )
        )  # fmt: skip

    pending = await start(0) if chunks else None
    events_total = 0
    try:
        for chunk_no in range(chunks):
            contact_rows, event_rows = await pending
            pending = await start(chunk_no + 1) if chunk_no + 1 < chunks else None
            await conn.copy_records_to_table(
                "contact", records=contact_rows, columns=list(CONTACT_COLUMNS)
            )
            await conn.copy_records_to_table(
                "event", records=event_rows, columns=list(EVENT_COLUMNS)
            )
            events_total += len(event_rows)
            bar.update(chunk_no * CHUNK_CONTACTS + len(contact_rows), events_total)
    finally:
        if pending is not None:
            # A COPY failed: let the generating thread finish before the caller rolls back.
            with contextlib.suppress(BaseException):
                await pending
    for index_name, sql in indexes:
        bar.phase(f"index {index_name}")
        await conn.execute(sql)


async def _fill_distinct_counts(conn: asyncpg.Connection, database_id: int) -> None:
    """catalog_field.distinct_count for every field, estimated on a sample of contacts.

    Duj1 estimator (as PostgreSQL's ANALYZE): n*d / (n - f1 + f1*n/N) with d distinct values
    and f1 singletons in a sample of n of N values; exact when the sample is everything.
    """
    fields = await conn.fetch(
        'SELECT id, key, data_type, storage, "column" FROM catalog_field WHERE database_id = $1',
        database_id,
    )
    total = await conn.fetchval("SELECT count(*) FROM contact WHERE database_id = $1", database_id)
    await conn.execute("DROP TABLE IF EXISTS pg_temp.datagen_sample")
    await conn.execute(
        "CREATE TEMP TABLE datagen_sample AS SELECT * FROM contact WHERE database_id = $1 "
        f"ORDER BY id LIMIT {DISTINCT_SAMPLE}",
        database_id,
    )
    sampled = min(total, DISTINCT_SAMPLE)
    updates = []
    for field in fields:
        values_sql, params = _field_values_sql(field)
        n, d, f1 = await conn.fetchrow(
            "SELECT coalesce(sum(c), 0), count(*), count(*) FILTER (WHERE c = 1) "
            f"FROM (SELECT v, count(*) AS c FROM ({values_sql}) s WHERE v IS NOT NULL "
            "GROUP BY v) g",
            *params,
        )
        updates.append((field["id"], _duj1(n, d, f1, n * total / sampled if sampled else 0)))
    await conn.executemany("UPDATE catalog_field SET distinct_count = $2 WHERE id = $1", updates)
    await conn.execute("DROP TABLE pg_temp.datagen_sample")


def _field_values_sql(field: asyncpg.Record) -> tuple[str, list[Any]]:
    """SQL listing the values of one catalog field over the sample (list fields: elements)."""
    if field["storage"] == FieldStorage.COLUMN:
        column = field["column"]
        if column not in CONTACT_TABLE_COLUMNS:
            raise ValueError(f"catalog field {field['key']!r} names unknown column {column!r}")
        return f'SELECT "{column}"::text AS v FROM datagen_sample', []
    if field["data_type"] == DataType.STRING_LIST:
        return (
            "SELECT jsonb_array_elements_text(attributes -> $1) AS v FROM datagen_sample "
            "WHERE jsonb_typeof(attributes -> $1) = 'array'",
            [field["key"]],
        )
    return "SELECT attributes ->> $1 AS v FROM datagen_sample", [field["key"]]


def _duj1(n: int, d: int, f1: int, big_n: float) -> int:
    if n == 0:
        return 0
    if big_n <= n:
        return d
    estimate = n * d / (n - f1 + f1 * n / big_n)
    return max(d, min(round(estimate), round(big_n)))


class ProgressBar:
    """A one-line progress bar on stderr: contacts, events, rows per second."""

    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.rows = 0

    def update(self, contacts: int, events: int) -> None:
        if not self.enabled:
            return
        self.rows = contacts + events
        elapsed = max(time.monotonic() - self.started, 1e-6)
        share = contacts / self.total if self.total else 1.0
        filled = int(share * 30)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:6.1%} "
            f"{contacts:,}/{self.total:,} contacts {events:,} events "
            f"{self.rows / elapsed:,.0f} rows/s {elapsed:,.0f}s  "
        )
        self.stream.flush()

    def phase(self, label: str) -> None:
        if self.enabled:
            self.stream.write(f"\n[{time.monotonic() - self.started:,.1f}s] {label}...")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"\ndone: {self.rows:,} rows in {elapsed:,.1f}s\n")
            self.stream.flush()


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.datagen --contacts N`: fill a contact database with demo data."""
    parser = argparse.ArgumentParser(prog="python -m bench.datagen", description=__doc__)
    parser.add_argument("--contacts", type=int, required=True, help="number of contacts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--name", default="demo", help="contact database name")
    parser.add_argument("--timezone", default="Europe/Rome")
    parser.add_argument("--events-per-contact", type=float, default=10.0)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="fail if the database exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required")
    if args.contacts < 0:
        parser.error("--contacts must be >= 0")
    try:
        database_id = asyncio.run(
            generate(
                args.database_url,
                contacts=args.contacts,
                seed=args.seed,
                name=args.name,
                timezone=args.timezone,
                progress=not args.quiet,
                replace=not args.keep,
                events_per_contact=args.events_per_contact,
            )
        )
    except DatabaseExistsError as error:
        parser.exit(2, f"error: {error}\n")
    print(f"contact database {args.name!r} id {database_id}")


if __name__ == "__main__":
    main()
