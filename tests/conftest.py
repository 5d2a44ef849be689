"""Shared fixtures: real PostgreSQL and Redis (given by URL, else embedded), a migrated test
database truncated before each test, and the environment for subprocesses."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from tortoise import Tortoise
from tortoise.contrib.test import truncate_all_models

from contactplan.db import migrate, recreate_database, tortoise_config
from contactplan.embedded import EmbeddedServices, start_postgres, start_redis

TEST_DB_NAME = f"contactplan_test_{os.getpid()}"


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServices]:
    """Embedded servers, started only for the URLs the environment does not give."""
    services = EmbeddedServices()
    data_dir = Path(tmp_path_factory.mktemp("services"))
    if not os.environ.get("DATABASE_URL"):
        start_postgres(data_dir, services)
    if not os.environ.get("REDIS_URL"):
        start_redis(data_dir, services)
    yield services
    services.stop()


@pytest.fixture(scope="session")
def server_url(embedded: EmbeddedServices) -> str:
    """URL of the PostgreSQL server under test (any database on it)."""
    return os.environ.get("DATABASE_URL") or embedded.database_url  # type: ignore[return-value]


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test session, dropped at the end."""
    url = asyncio.run(recreate_database(server_url, TEST_DB_NAME))
    asyncio.run(migrate(url))
    yield url


@pytest.fixture(scope="session")
def redis_url(embedded: EmbeddedServices) -> str:
    """URL of the Redis under test."""
    return os.environ.get("REDIS_URL") or embedded.redis_url  # type: ignore[return-value]


@pytest.fixture(scope="session")
def service_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Environment for a subprocess that must use the test database and Redis."""
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, LOG_LEVEL="INFO")
    return env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def orm(database_url: str) -> AsyncIterator[None]:
    """Tortoise initialised once for the session on the test database."""
    await Tortoise.init(config=tortoise_config(database_url))
    yield
    await Tortoise.close_connections()


@pytest_asyncio.fixture(loop_scope="session")
async def db(orm: None) -> AsyncIterator[None]:
    """An empty database for one test (every table truncated first)."""
    await truncate_all_models()
    yield


@pytest.fixture
def redis(redis_url: str) -> Iterator[object]:
    """A flushed Redis for one test."""
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()
