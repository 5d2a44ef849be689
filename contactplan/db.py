"""Database wiring: Tortoise configuration from a URL, migrations, connection helpers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from models import MODEL_MODULES

# Session settings of every connection (the app's pool, workers, the CLI and the benches).
# - plan_cache_mode: every statement is planned for its own values. asyncpg caches prepared
#   statements, and after five runs PostgreSQL may switch one to a generic plan made without
#   them; for a segment's windows, sets and thresholds that flips a count's plan, and its
#   time by 2-4x either way (bench/segments.py), from one run to the next.
# - random_page_cost: contact data lives in memory or on SSD, where an index probe costs
#   about what a sequential page does; at PostgreSQL's default of 4 (spinning disks) the
#   planner scans all contacts where 5,000 index probes would do (bench/segments.py on 1M
#   contacts: occurrences 0.47 -> 0.28 s, aggregate 0.35 -> 0.13 s).
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "random_page_cost": "1.1"}


def credentials_from_url(url: str) -> dict[str, Any]:
    """asyncpg credentials from a postgres URL, including Unix-socket URLs (`?host=/dir`)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "asyncpg"}:
        raise ValueError(f"DATABASE_URL must be a postgres:// URL, got scheme {parsed.scheme!r}")
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or "127.0.0.1"])[0]
    return {
        "host": host,
        "port": parsed.port or int(query.get("port", ["5432"])[0]),
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
        "database": (parsed.path or "/postgres").lstrip("/") or "postgres",
        "server_settings": dict(SERVER_SETTINGS),
    }


def tortoise_config(database_url: str, *, minsize: int = 1, maxsize: int = 10) -> dict[str, Any]:
    """The one Tortoise configuration every process uses."""
    credentials = credentials_from_url(database_url) | {"minsize": minsize, "maxsize": maxsize}
    return {
        "connections": {
            "default": {"engine": "tortoise.backends.asyncpg", "credentials": credentials}
        },
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(database_url: str) -> None:
    """Apply every pending migration (tortoise 1.x's migration tool)."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.api import migrate as migrate_api

    config = tortoise_config(database_url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        await migrate_api(config=config, app_labels=None, target=None)


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database name."""
    parsed = urlparse(url)
    return parsed._replace(path=f"/{name}").geturl()


async def recreate_database(url: str, name: str) -> str:
    """Drop and create database `name` on the server of `url`; return its URL."""
    await drop_database(url, name, create=True)
    return with_database(url, name)


async def drop_database(url: str, name: str, *, create: bool = False) -> None:
    """Drop database `name` on the server of `url` (closing its sessions); then create it
    again if `create`."""
    import asyncpg

    if not name.replace("_", "").isalnum():
        raise ValueError(f"bad database name {name!r}")
    conn = await asyncpg.connect(**credentials_from_url(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
