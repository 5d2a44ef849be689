"""The demo data generator as a tool: determinism, replace, isolation, CLI, progress output."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import pytest

from bench import datagen
from bench.datagen import WINDOW_START, DatabaseExistsError, generate
from models.catalog import ContactDatabase

REPO = Path(__file__).resolve().parents[2]

CONTACT_FINGERPRINT = """
SELECT count(*), md5(string_agg(row(external_id, email, phone, push_token, first_name,
    last_name, gender, birth_date, city, region, country, language, consent_email, consent_sms,
    consent_push, attributes, created_at, updated_at)::text, ',' ORDER BY external_id))
FROM contact WHERE database_id = $1
"""
# Events by content (ids differ between runs): contact external id, type key, time, value, props.
EVENT_FINGERPRINT = """
SELECT count(*), md5(string_agg(x, ',' ORDER BY x)) FROM (
    SELECT row(c.external_id, t.key, e.occurred_at, e.value, e.properties)::text AS x
    FROM event e
    JOIN contact c ON c.id = e.contact_id
    JOIN catalog_event_type t ON t.id = e.event_type_id
    WHERE e.database_id = $1
) s
"""


async def fingerprint(pg: asyncpg.Connection, database_id: int) -> tuple:
    contacts = tuple(await pg.fetchrow(CONTACT_FINGERPRINT, database_id))
    events = tuple(await pg.fetchrow(EVENT_FINGERPRINT, database_id))
    return contacts, events


async def test_same_seed_and_size_give_identical_data(db, database_url, pg):
    first = await generate(database_url, contacts=300, seed=7, name="a", progress=False)
    second = await generate(database_url, contacts=300, seed=7, name="b", progress=False)
    assert first != second
    a, b = await fingerprint(pg, first), await fingerprint(pg, second)
    assert a == b
    assert a[0][0] == 300 and a[1][0] > 1000


async def test_another_seed_gives_other_data(db, database_url, pg):
    first = await generate(database_url, contacts=200, seed=7, name="a", progress=False)
    other = await generate(database_url, contacts=200, seed=8, name="b", progress=False)
    (contacts_a, events_a), (contacts_b, events_b) = (
        await fingerprint(pg, first),
        await fingerprint(pg, other),
    )
    assert contacts_a[0] == contacts_b[0] == 200
    assert contacts_a[1] != contacts_b[1]
    assert events_a[1] != events_b[1]


async def test_two_databases_in_one_server_do_not_mix(db, database_url, pg):
    small = await generate(database_url, contacts=150, name="small", progress=False)
    large = await generate(database_url, contacts=400, name="large", progress=False)
    counts = dict(
        await pg.fetch("SELECT database_id, count(*) FROM contact GROUP BY database_id ORDER BY 1")
    )
    assert counts == {small: 150, large: 400}
    crossed = await pg.fetchval(
        """
        SELECT count(*) FROM event e
        JOIN contact c ON c.id = e.contact_id
        JOIN catalog_event_type t ON t.id = e.event_type_id
        WHERE c.database_id <> e.database_id OR t.database_id <> e.database_id
        """
    )
    assert crossed == 0
    per_database_types = await pg.fetchval(
        "SELECT count(DISTINCT database_id) FROM catalog_event_type WHERE database_id IN ($1, $2)",
        small,
        large,
    )
    assert per_database_types == 2


async def test_replace_drops_the_old_database_and_its_rows(db, database_url, pg):
    old = await generate(database_url, contacts=120, name="demo", progress=False)
    new = await generate(database_url, contacts=60, name="demo", progress=False, replace=True)
    assert new != old
    assert await pg.fetchval("SELECT count(*) FROM contact_database WHERE name = 'demo'") == 1
    assert await pg.fetchval("SELECT count(*) FROM contact WHERE database_id = $1", old) == 0
    assert await pg.fetchval("SELECT count(*) FROM event WHERE database_id = $1", old) == 0
    assert await pg.fetchval("SELECT count(*) FROM catalog_field WHERE database_id = $1", old) == 0
    assert await pg.fetchval("SELECT count(*) FROM contact WHERE database_id = $1", new) == 60


async def test_replace_false_refuses_an_existing_name_and_changes_nothing(db, database_url, pg):
    existing = await generate(database_url, contacts=50, name="demo", progress=False)
    before = await fingerprint(pg, existing)
    with pytest.raises(DatabaseExistsError, match="'demo' exists"):
        await generate(database_url, contacts=10, name="demo", progress=False, replace=False)
    assert await pg.fetchval("SELECT array_agg(id) FROM contact_database") == [existing]
    assert await fingerprint(pg, existing) == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"contacts": -1}, "contacts must be >= 0"),
        ({"contacts": 5, "events_per_contact": -2.0}, "events_per_contact must be >= 0"),
        ({"contacts": 5, "name": ""}, "name must have 1 to 200 characters"),
        ({"contacts": 5, "timezone": "Europe/Atlantis"}, "'Europe/Atlantis' is not an IANA"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_changes(
    db, database_url, pg, arguments, message
):
    existing = await generate(database_url, contacts=5, name="demo", progress=False)
    with pytest.raises(ValueError, match=message):
        await generate(database_url, progress=False, **{"name": "demo", **arguments})
    assert await pg.fetchval("SELECT array_agg(id) FROM contact_database") == [existing]


async def test_events_per_contact_sets_the_volume(db, database_url, pg):
    quiet = await generate(
        database_url, contacts=500, name="quiet", progress=False, events_per_contact=2.0
    )
    busy = await generate(
        database_url, contacts=500, name="busy", progress=False, events_per_contact=20.0
    )
    events = dict(await pg.fetch("SELECT database_id, count(*) FROM event GROUP BY 1"))
    assert 1.0 <= events[quiet] / 500 <= 3.0
    assert 16.0 <= events[busy] / 500 <= 24.0


async def test_callers_tortoise_keeps_working_after_generate(db, database_url):
    database_id = await generate(database_url, contacts=20, name="orm", progress=False)
    database = await ContactDatabase.get(id=database_id)
    assert database.name == "orm"
    assert database.timezone == "Europe/Rome"
    assert await database.fields.filter(key="loyalty_tier").count() == 1


async def test_progress_bar_goes_to_stderr_only_when_asked(db, database_url, capsys):
    await generate(database_url, contacts=30, name="quiet", progress=False)
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""
    await generate(database_url, contacts=30, name="loud", progress=True)
    loud = capsys.readouterr()
    assert "30/30 contacts" in loud.err
    assert "rows/s" in loud.err
    assert loud.out == ""


async def run_datagen(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.datagen", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode(), err.decode()


async def test_command_line_generates_without_an_initialised_orm(db, database_url, pg):
    code, out, err = await run_datagen(
        "--database-url", database_url, "--contacts", "40", "--name", "cli", "--quiet"
    )
    assert code == 0, err
    database_id = await pg.fetchval("SELECT id FROM contact_database WHERE name = 'cli'")
    assert out.strip() == f"contact database 'cli' id {database_id}"
    count = await pg.fetchval("SELECT count(*) FROM contact WHERE database_id = $1", database_id)
    assert count == 40


async def test_command_line_keep_refuses_an_existing_database(db, database_url, pg):
    existing = await generate(database_url, contacts=5, name="cli", progress=False)
    code, _, err = await run_datagen(
        "--database-url", database_url, "--contacts", "5", "--name", "cli", "--keep"
    )
    assert code == 2
    assert "'cli' exists" in err
    assert await pg.fetchval("SELECT array_agg(id) FROM contact_database") == [existing]


async def test_zero_events_per_contact_gives_contacts_only(db, database_url, pg):
    database_id = await generate(
        database_url, contacts=50, name="still", progress=False, events_per_contact=0
    )
    assert await pg.fetchval("SELECT count(*) FROM event WHERE database_id = $1", database_id) == 0
    seen = await pg.fetchval(
        "SELECT count(*) FROM contact WHERE database_id = $1 AND attributes ? 'last_seen'",
        database_id,
    )
    assert seen == 0


async def event_indexes(pg: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    rows = await pg.fetch(
        "SELECT c.relname, c.oid, pg_get_indexdef(c.oid) AS definition FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'event'::regclass"
    )
    return {r["relname"]: (r["oid"], r["definition"]) for r in rows}


async def test_large_loads_rebuild_the_event_indexes_exactly(db, database_url, pg, monkeypatch):
    monkeypatch.setattr(datagen, "INDEX_REBUILD_MIN_EVENTS", 1000)
    before = await event_indexes(pg)
    database_id = await generate(database_url, contacts=300, name="big", progress=False)
    after = await event_indexes(pg)
    rebuilt = {name for name, _ in datagen._event_indexes()}
    assert rebuilt == {
        "event_contact_type_time", "event_type_time", "event_external_id", "event_type_contact"
    }  # fmt: skip
    assert {name: d for name, (_, d) in after.items()} == {
        name: d for name, (_, d) in before.items()
    }
    assert all(after[name][0] != before[name][0] for name in rebuilt)  # built anew
    assert after["event_pkey"][0] == before["event_pkey"][0]
    # The rebuilt indexes serve queries: a type-and-time probe finds what a scan finds.
    await pg.execute("SET enable_seqscan = off")
    try:
        indexed = await pg.fetchval(
            "SELECT count(*) FROM event e JOIN catalog_event_type t ON t.id = e.event_type_id "
            "WHERE t.database_id = $1 AND t.key = 'purchase' AND e.occurred_at >= $2",
            database_id,
            WINDOW_START,
        )
    finally:
        await pg.execute("RESET enable_seqscan")
    scanned = await pg.fetchval(
        "SELECT count(*) FILTER (WHERE t.key = 'purchase') FROM event e "
        "JOIN catalog_event_type t ON t.id = e.event_type_id WHERE e.database_id = $1",
        database_id,
    )
    assert indexed == scanned > 0


async def test_a_role_without_superuser_gets_the_same_data(db, database_url, pg):
    role = f"datagen_plain_{os.getpid()}"
    await pg.execute(f"DROP ROLE IF EXISTS {role}")
    await pg.execute(f"CREATE ROLE {role} LOGIN")
    try:
        await pg.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        await pg.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        parsed = urlparse(database_url)
        as_role = parsed._replace(netloc=f"{role}@{parsed.netloc.rpartition('@')[2]}").geturl()
        plain = await generate(as_role, contacts=150, name="plain", progress=False)
        superuser = await generate(database_url, contacts=150, name="super", progress=False)
        assert await fingerprint(pg, plain) == await fingerprint(pg, superuser)
    finally:
        await pg.execute(f"DROP OWNED BY {role}")
        await pg.execute(f"DROP ROLE {role}")
