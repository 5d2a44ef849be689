"""PostgreSQL and Redis for a process: resolved (embedded when unset), checked, prepared."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from contactplan.settings import Settings

T = TypeVar("T")


class ServiceError(Exception):
    """PostgreSQL or Redis could not be started, reached or migrated, or a port is taken."""


def redact(url: str) -> str:
    """`url` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def running_services(settings: Settings, *, redis: bool = True) -> Iterator[Settings]:
    """Settings with service URLs resolved: embedded servers under DATA_DIR for unset ones.

    `redis=False` for commands that only need PostgreSQL. Embedded servers another
    contactplan process already runs on the same DATA_DIR are shared, not restarted.
    """
    from contactplan.embedded import EmbeddedServices, start_postgres, start_redis

    data_dir = settings.data_dir.expanduser().resolve()
    services = EmbeddedServices(database_url=settings.database_url, redis_url=settings.redis_url)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if not settings.database_url:
            start_postgres(data_dir, services)
        if redis and not settings.redis_url:
            start_redis(data_dir, services)
    except Exception as error:
        services.stop()
        raise ServiceError(
            f"could not start the embedded PostgreSQL/Redis under DATA_DIR={data_dir}: {error}"
        ) from error
    try:
        yield replace(
            settings,
            data_dir=data_dir,
            database_url=services.database_url,
            redis_url=services.redis_url,
        )
    finally:
        services.stop()


def check_services(settings: Settings, *, redis: bool = True) -> None:
    """Fail with a clear message when PostgreSQL or Redis does not answer."""
    import asyncpg
    import redis as redis_lib

    from contactplan.db import credentials_from_url

    assert settings.database_url

    async def ping_postgres() -> None:
        conn = await asyncpg.connect(**credentials_from_url(settings.database_url), timeout=10)
        await conn.close()

    try:
        asyncio.run(ping_postgres())
    except Exception as error:
        raise ServiceError(
            f"PostgreSQL at {redact(settings.database_url)} does not answer: {error}"
        ) from error
    if not redis or settings.redis_url is None:
        return
    try:
        client = redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=10)
        client.ping()
        client.close()
    except Exception as error:
        raise ServiceError(
            f"Redis at {redact(settings.redis_url)} does not answer: {error}"
        ) from error


async def with_orm(database_url: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` with Tortoise initialised on `database_url`, then close the connections."""
    from tortoise.context import TortoiseContext

    from contactplan.db import tortoise_config

    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url, maxsize=2))
        return await work()


def prepare_database(database_url: str) -> tuple[str, str] | None:
    """Apply pending migrations, update the built-in profiles, create the first admin.

    Returns the first admin's (username, password) when it was just created, else None.
    """
    from contactplan.db import migrate

    try:
        asyncio.run(migrate(database_url))
    except Exception as error:
        raise ServiceError(f"migrating {redact(database_url)} failed: {error}") from error
    return asyncio.run(with_orm(database_url, _bootstrap_accounts))


async def _bootstrap_accounts() -> tuple[str, str] | None:
    from permissions.bootstrap import ensure_admin, ensure_builtin_profiles

    await ensure_builtin_profiles()
    return await ensure_admin()


def ensure_port_free(host: str, port: int) -> None:
    """Fail early when HOST:PORT is taken, instead of the API restarting forever."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ServiceError(
                f"cannot listen on {host}:{port} ({error.strerror}); "
                "stop the program using it or set PORT / HOST"
            ) from error


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
