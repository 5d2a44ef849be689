"""Fixtures and builders for the plan-execution tests: a contact database with the standard
catalog, contacts written with set-based SQL, plans and runs, worker subprocesses.

`tests/actors/conftest.py` exposes the `world` fixture; the send-sink fixtures are there too.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from tortoise import connections

from models import DndPolicy, Plan, Profile, Segment, User
from models.standard_catalog import create_contact_database

IN_SEGMENT = "Seg"  # the city of the contacts the test segment selects
SEGMENT_DEFINITION = {
    "root": {"contact": {"conditions": [{"field": "city", "op": "eq", "value": IN_SEGMENT}]}}
}


@dataclass
class World:
    """A contact database, its author and a segment (city = Seg)."""

    database_id: int
    user_id: int
    segment_id: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def make_world(name: str = "shop") -> World:
    """A contact database with the standard catalog, a user and the test segment."""
    database = await create_contact_database(name)
    profile = await Profile.create(name=f"p-{name}", permissions=[])
    user = await User.create(username=f"u-{name}", password_hash="x", profile=profile)
    segment = await Segment.create(
        database=database, name="seg", author=user, definition=SEGMENT_DEFINITION
    )
    return World(database.id, user.id, segment.id)


async def add_contacts(
    database_id: int,
    count: int,
    *,
    tag: str,
    city: str = IN_SEGMENT,
    consent: bool = True,
    email: bool = True,
    email_domain: str | None = None,
) -> list[int]:
    """`count` contacts written by one INSERT ... SELECT; their ids in order."""
    rows = await connections.get("default").execute_query_dict(
        "INSERT INTO contact (database_id, external_id, email, phone, consent_email,"
        " consent_sms, consent_push, city, attributes, created_at, updated_at)"
        " SELECT $1, $2 || '-' || g, CASE WHEN $5 THEN $2 || '-' || g || '@' || $6 END,"
        " '+39' || g, $4, $4, $4, $3, '{}'::jsonb, now(), now()"
        " FROM generate_series(1, $7::int) g RETURNING id",
        [database_id, tag, city, consent, email, email_domain or f"{tag}.example", count],
    )
    return sorted(row["id"] for row in rows)


async def make_plan(
    world: World,
    *,
    options: dict[str, Any] | None = None,
    consumers: list[dict[str, Any]] | None = None,
    next_run_at: datetime | None = None,
    schedule: dict[str, Any] | None = None,
    state: str = "ready",
    dnd_policy: DndPolicy | None = None,
) -> Plan:
    """A ready plan on the world's segment with one email delivery by default."""
    when = next_run_at or datetime.now(UTC) - timedelta(seconds=1)
    return await Plan.create(
        database_id=world.database_id,
        segment_id=world.segment_id,
        author_id=world.user_id,
        name="plan",
        state=state,
        schedule=schedule or {"kind": "once", "start": when.date().isoformat(), "time": "00:00"},
        next_run_at=when,
        options=options or {},
        consumers=consumers if consumers is not None else [EMAIL_DELIVERY],
        dnd_policy=dnd_policy,
    )


EMAIL_DELIVERY = {
    "kind": "delivery",
    "channel": "email",
    "template": "welcome",
    "subject": "Hello",
    "sender": "shop@example.com",
}
SMS_DELIVERY = {"kind": "delivery", "channel": "sms", "template": "promo", "sender": "SHOP"}


async def make_run(plan: Plan, *, scheduled_for: datetime | None = None) -> int:
    """A pending run of `plan` (what the tick creates)."""
    when = scheduled_for or datetime.now(UTC) - timedelta(seconds=1)
    rows = await connections.get("default").execute_query_dict(
        "INSERT INTO plan_run (plan_id, trigger, scheduled_for, as_of, state, funnel,"
        " created_at, heartbeat_at) VALUES ($1, 'manual', $2, $2, 'pending', '{}', now(), now())"
        " RETURNING id",
        [plan.id, when],
    )
    return rows[0]["id"]


async def fetch(sql: str, *params: Any) -> list[dict[str, Any]]:
    return await connections.get("default").execute_query_dict(sql, list(params))


async def recipients_by_status(run_id: int) -> dict[tuple[str, str | None], int]:
    rows = await fetch(
        "SELECT status, exclusion_reason, count(*) AS n FROM recipient WHERE run_id = $1"
        " GROUP BY 1, 2",
        run_id,
    )
    return {(r["status"], r["exclusion_reason"]): r["n"] for r in rows}


@pytest_asyncio.fixture(loop_scope="session")
async def world(db: None) -> World:
    return await make_world()


def worker_env(service_env: dict[str, str], sink_url: str, sink_token: str) -> dict[str, str]:
    """Environment of a worker subprocess delivering to the test's send-sink."""
    env = dict(service_env)
    env.update(DELIVERY_URL=sink_url, DELIVERY_TOKEN=sink_token, PYTHONUNBUFFERED="1")
    return env


def start_worker(env: dict[str, str], log_path: Path, threads: int = 4) -> subprocess.Popen:
    """`contactplan worker` as a real subprocess, logging to `log_path`."""
    out = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "contactplan", "worker", "--threads", str(threads)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[2],
        start_new_session=True,
    )
