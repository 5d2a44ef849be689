"""GraphQL overhead benchmark: the API against plain Starlette endpoints, same data, same run.

One uvicorn server (one process, the same settings as `contactplan api`) serves both the
real app (`/graphql`) and plain JSON endpoints (`/plain/...`) that authenticate the same
way and run the same SQL the resolvers run, returning the same JSON (checked before
timing). Cases: (a) 100 segments with author and count metadata, (b) a segment's
definition, (c) a contact with its last 50 events. Prints requests per second, p50 and p99
latency per endpoint and the GraphQL/plain ratios. Not a test: run it by hand.

    python -m bench.graphql --database-url postgres://postgres@127.0.0.1:5432/postgres \
        [--requests 2000] [--concurrency 8] [--database-name NAME] [--drop]

The benchmark database (`contactplan_bench_graphql` on that server unless --database-name)
is recreated each run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from strawberry.relay import GlobalID

BENCH_DB = "contactplan_bench_graphql"
SECRET = "bench-secret-key"
SEGMENTS = 100
EVENTS = 200
DEFINITION = {
    "root": {
        "and": [
            {"contact": {"conditions": [{"field": "country", "op": "eq", "value": "IT"}]}},
            {
                "event": {
                    "type": "purchase",
                    "window": {"last": {"amount": 90, "unit": "day"}},
                    "count": {"op": "gte", "value": 2},
                }
            },
        ]
    }
}

SEGMENTS_QUERY = """query($db: ID!) { segments(databaseId: $db, first: 100) { totalCount
  edges { node { id name lastCount countedAt author { id username displayName } } } } }"""
DEFINITION_QUERY = """query($id: ID!) { segment(id: $id) { id name version definitionJson } }"""
CONTACT_QUERY = """query($id: ID!) { contact(id: $id) { id externalId
  events(first: 50) { edges { node { id eventId occurredAt properties } } } } }"""


# The plain endpoints read the same columns as the resolvers' ORM queries (every column of
# the model), so the difference measured is GraphQL + ORM objects, not a narrower SELECT.
SEGMENT_COLUMNS = (
    "counted_at, created_at, description, deleted_at, version, updated_at, last_count,"
    " author_id, folder, database_id, name, id, definition, tags"
)
USER_COLUMNS = (
    "password_hash, email, created_at, token_version, last_login_at, username,"
    " display_name, updated_at, is_active, profile_id, id"
)
EVENT_COLUMNS = (
    "id, database_id, contact_id, event_type_id, external_id, occurred_at, value, properties"
)


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name=type_name, node_id=str(pk)))


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# ---- plain endpoints: the same authentication and SQL as the resolvers, no GraphQL ----------


async def _principal(request: Request) -> Any:
    from permissions.auth import authenticate

    return await authenticate(request.app.state.settings, request.headers.get("authorization"))


async def _rows(sql: str, *params: Any) -> list[dict[str, Any]]:
    from tortoise import connections

    return await connections.get("default").execute_query_dict(sql, list(params))


async def plain_segments(request: Request) -> JSONResponse:
    """(a) the first 100 segments by name with author and count metadata."""
    await _principal(request)
    db = int(request.query_params["db"])
    total = await _rows(
        "SELECT count(*) AS n FROM segment WHERE database_id = $1 AND deleted_at IS NULL", db
    )
    page = await _rows(
        f"SELECT {SEGMENT_COLUMNS} FROM segment"
        " WHERE database_id = $1 AND deleted_at IS NULL ORDER BY name, id LIMIT 101",
        db,
    )
    authors = await _rows(
        f"SELECT {USER_COLUMNS} FROM app_user WHERE id = ANY($1::int[])",
        sorted({r["author_id"] for r in page[:100]}),
    )
    by_id = {a["id"]: a for a in authors}
    edges = [
        {
            "node": {
                "id": gid("Segment", r["id"]),
                "name": r["name"],
                "lastCount": r["last_count"],
                "countedAt": iso(r["counted_at"]),
                "author": {
                    "id": gid("User", r["author_id"]),
                    "username": by_id[r["author_id"]]["username"],
                    "displayName": by_id[r["author_id"]]["display_name"],
                },
            }
        }
        for r in page[:100]
    ]
    return JSONResponse({"data": {"segments": {"totalCount": total[0]["n"], "edges": edges}}})


async def plain_definition(request: Request) -> JSONResponse:
    """(b) one segment's definition."""
    await _principal(request)
    rows = await _rows(
        f"SELECT {SEGMENT_COLUMNS} FROM segment WHERE id = $1 AND deleted_at IS NULL",
        int(request.path_params["pk"]),
    )
    row = rows[0]
    definition = row["definition"]
    if isinstance(definition, str):
        import json

        definition = json.loads(definition)
    segment = {
        "id": gid("Segment", row["id"]),
        "name": row["name"],
        "version": row["version"],
        "definitionJson": definition,
    }
    return JSONResponse({"data": {"segment": segment}})


async def plain_contact(request: Request) -> JSONResponse:
    """(c) a contact with its last 50 events."""
    await _principal(request)
    pk = int(request.path_params["pk"])
    contact = (await _rows("SELECT * FROM contact WHERE id = $1", pk))[0]
    events = await _rows(
        f"SELECT {EVENT_COLUMNS} FROM event"
        " WHERE contact_id = $1 AND database_id = $2 ORDER BY occurred_at DESC, id DESC LIMIT 51",
        pk,
        contact["database_id"],
    )
    import json

    edges = [
        {
            "node": {
                "id": gid("Event", e["id"]),
                "eventId": e["external_id"],
                "occurredAt": iso(e["occurred_at"]),
                "properties": json.loads(e["properties"])
                if isinstance(e["properties"], str)
                else e["properties"],
            }
        }
        for e in events[:50]
    ]
    body = {
        "id": gid("Contact", pk),
        "externalId": contact["external_id"],
        "events": {"edges": edges},
    }
    return JSONResponse({"data": {"contact": body}})


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def bench_app() -> Starlette:
    """The real app at / and the plain endpoints at /plain, one ORM for both."""
    from tortoise.contrib.starlette import RegisterTortoise

    from contactplan.app import create_app, settle_heap
    from contactplan.db import tortoise_config
    from contactplan.settings import Settings

    settings = Settings.from_env()
    api = create_app(settings, manage_orm=False)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            settle_heap()  # as contactplan api does at startup
            yield

    app = Starlette(
        routes=[
            Route("/plain/ping", ping),
            Route("/plain/segments", plain_segments),
            Route("/plain/segments/{pk:int}", plain_definition),
            Route("/plain/contacts/{pk:int}", plain_contact),
            Mount("/", app=api),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app


def serve(port: int) -> None:
    """Run bench_app under uvicorn as `contactplan api` does."""
    import uvicorn

    config = uvicorn.Config(
        bench_app(), host="127.0.0.1", port=port, log_level="warning", server_header=False
    )
    uvicorn.Server(config).run()


# ---- data -----------------------------------------------------------------------------------


@dataclass
class Seeded:
    token: str
    database: int
    segment: int
    contact: int


async def seed(url: str) -> Seeded:
    """Admin, 5 authors, 100 segments, one contact with 200 events."""
    from tortoise import Tortoise, connections

    from contactplan.db import tortoise_config
    from models import EventType, Profile, Segment, User
    from models.standard_catalog import create_contact_database
    from permissions.bootstrap import ensure_builtin_profiles
    from permissions.tokens import issue_token

    await Tortoise.init(config=tortoise_config(url))
    try:
        await ensure_builtin_profiles()
        admin_profile = await Profile.get(name="ADMIN")
        admin = await User.create(username="bench", password_hash="x", profile=admin_profile)
        database = await create_contact_database("bench")
        authors = [
            await User.create(
                username=f"author{i}",
                password_hash="x",
                profile=admin_profile,
                display_name=f"Author {i}",
            )
            for i in range(5)
        ]
        now = datetime.now(UTC)
        await Segment.bulk_create(
            [
                Segment(
                    database=database,
                    name=f"Segment {i:03d}",
                    author=authors[i % 5],
                    definition=DEFINITION,
                    last_count=1000 + i,
                    counted_at=now - timedelta(minutes=i),
                )
                for i in range(SEGMENTS)
            ]
        )
        segment = await Segment.filter(database=database).order_by("id").first()
        conn = connections.get("default")
        contact = await conn.execute_query_dict(
            "INSERT INTO contact (database_id, external_id, email, attributes, consent_email,"
            " consent_sms, consent_push, created_at, updated_at) VALUES ($1, 'c1',"
            " 'c1@example.com', '{}'::jsonb, true, true, true, now(), now()) RETURNING id",
            [database.id],
        )
        event_type = await EventType.get(database=database, key="purchase")
        await conn.execute_query(
            "INSERT INTO event (database_id, contact_id, event_type_id, external_id,"
            " occurred_at, value, properties) SELECT $1, $2, $3, 'e' || g,"
            " now() - g * interval '1 hour', g, jsonb_build_object('sku', 'SKU' || g)"
            " FROM generate_series(1, $4::int) g",
            [database.id, contact[0]["id"], event_type.id, EVENTS],
        )
        token, _ = issue_token(SECRET, admin.id, admin.token_version, 3600 * 24)
        assert segment is not None
        return Seeded(token, database.id, segment.id, contact[0]["id"])
    finally:
        await Tortoise.close_connections()


# ---- load -----------------------------------------------------------------------------------


@dataclass
class Stats:
    rps: float
    p50_ms: float
    p99_ms: float


async def load(
    client: httpx.AsyncClient, send: Callable[[], Any], requests: int, concurrency: int
) -> Stats:
    """`requests` calls of `send` by `concurrency` workers; throughput and latency."""
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            response = await send()
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200 or b'"errors"' in response.content:
                raise RuntimeError(f"bad response: {response.status_code} {response.text[:300]}")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return Stats(len(latencies) / wall, cuts[49] * 1000, cuts[98] * 1000)


@dataclass
class Case:
    name: str
    query: str
    variables: dict[str, Any]
    plain_path: str


def cases(seeded: Seeded) -> list[Case]:
    return [
        Case(
            "(a) 100 segments + author + count",
            SEGMENTS_QUERY,
            {"db": gid("Database", seeded.database)},
            f"/plain/segments?db={seeded.database}",
        ),
        Case(
            "(b) segment definition",
            DEFINITION_QUERY,
            {"id": gid("Segment", seeded.segment)},
            f"/plain/segments/{seeded.segment}",
        ),
        Case(
            "(c) contact + last 50 events",
            CONTACT_QUERY,
            {"id": gid("Contact", seeded.contact)},
            f"/plain/contacts/{seeded.contact}",
        ),
    ]


async def run_cases(base: str, seeded: Seeded, requests: int, concurrency: int) -> list[str]:
    """Check each pair returns the same JSON, then time both; report lines."""
    headers = {"Authorization": f"Bearer {seeded.token}", "Accept": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    lines = [
        f"{'case':38} {'endpoint':8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:
        for case in cases(seeded):

            def graphql(case: Case = case) -> Any:
                return client.post(
                    "/graphql", json={"query": case.query, "variables": case.variables}
                )

            def plain(case: Case = case) -> Any:
                return client.get(case.plain_path)

            got, expected = (await graphql()).json(), (await plain()).json()
            if got != expected:
                raise RuntimeError(f"{case.name}: JSON differs\n{got}\n{expected}")
            warm_up = min(100, requests)
            await load(client, graphql, warm_up, concurrency)
            await load(client, plain, warm_up, concurrency)
            g = await load(client, graphql, requests, concurrency)
            p = await load(client, plain, requests, concurrency)
            lines.append(
                f"{case.name:38} {'graphql':8} {g.rps:8.0f} {g.p50_ms:8.2f} {g.p99_ms:8.2f}"
            )
            lines.append(f"{'':38} {'plain':8} {p.rps:8.0f} {p.p50_ms:8.2f} {p.p99_ms:8.2f}")
            lines.append(
                f"{'':38} {'ratio':8} {p.rps / g.rps:7.2f}x {g.p50_ms / p.p50_ms:7.2f}x"
                f" {g.p99_ms / p.p99_ms:7.2f}x"
            )
    return lines


def _wait_ready(base: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the benchmark server exited")
        try:
            if httpx.get(f"{base}/plain/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the benchmark server did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint and case")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database-name", default=BENCH_DB, help=f"default {BENCH_DB}")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.port)
        return 0
    if not args.database_url:
        parser.error("give --database-url or DATABASE_URL (a PostgreSQL server)")

    from contactplan.db import drop_database, migrate, recreate_database

    url = asyncio.run(recreate_database(args.database_url, args.database_name))
    asyncio.run(migrate(url))
    seeded = asyncio.run(seed(url))
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=SECRET, LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "bench.graphql", "--serve", "--port", str(args.port)]
    server = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{args.port}"
    try:
        _wait_ready(base, server)
        lines = asyncio.run(run_cases(base, seeded, args.requests, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=20)
        if args.drop:
            asyncio.run(drop_database(args.database_url, args.database_name))
    print(f"{args.requests} requests per endpoint, concurrency {args.concurrency}, one uvicorn")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
