"""Shared fixtures: real PostgreSQL and Redis (given by URL, else embedded), a migrated test
database truncated before each test, and the environment for subprocesses."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from tortoise import Tortoise
from tortoise.contrib.test import truncate_all_models

from contactplan.db import drop_database, migrate, recreate_database, tortoise_config
from contactplan.embedded import EmbeddedServices, start_postgres, start_redis

TEST_DB_NAME = f"contactplan_test_{os.getpid()}"


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedServices]:
    """Embedded servers, started only for the URLs the environment does not give.

    Their data lives in a folder of its own, not under pytest's temporary folder: another
    pytest session resets that one to mode 0700, which locks out pgserver's own user.
    """
    services = EmbeddedServices()
    data_dir = Path(tempfile.mkdtemp(prefix="contactplan-services-"))
    data_dir.chmod(0o755)
    if not os.environ.get("DATABASE_URL"):
        start_postgres(data_dir, services)
    if not os.environ.get("REDIS_URL"):
        start_redis(data_dir, services)
    yield services
    services.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


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
    asyncio.run(drop_database(server_url, TEST_DB_NAME))


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


# ---- GraphQL app client, users per profile, login helper (accounts / GraphQL core) ----
# Reuse: `gql` posts GraphQL over HTTP to create_app(app_settings, manage_orm=False);
# `accounts` gives two contact databases and one user per built-in profile with a token.

import httpx  # noqa: E402

from contactplan.settings import Settings  # noqa: E402

TEST_PASSWORD = "correct-horse-battery-staple"
TEST_SECRET_KEY = "test-secret-key-not-for-production"


@pytest.fixture(scope="session")
def app_settings(database_url: str, redis_url: str) -> Settings:
    """Settings for an app under test: the test database and Redis, a fixed secret."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=TEST_SECRET_KEY,
        login_max_failures=3,
        login_lock_seconds=60,
    )


@pytest.fixture(scope="session")
def test_password_hash() -> str:
    """The argon2 hash of TEST_PASSWORD, computed once (hashing is slow on purpose)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(TEST_PASSWORD)


class GraphQLClient:
    """Posts GraphQL requests to an app; `execute` returns the decoded JSON document."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self,
        query: str,
        variables: dict | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The raw HTTP response to one operation."""
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        body: dict = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", json=body, headers=all_headers)

    async def execute(
        self, query: str, variables: dict | None = None, *, token: str | None = None
    ) -> dict:
        """The JSON result of one operation (HTTP 200 asserted)."""
        response = await self.post(query, variables, token=token)
        assert response.status_code == 200, response.text
        return response.json()

    async def login(self, username: str, password: str = TEST_PASSWORD) -> dict:
        """The `login` payload (token, userErrors) for these credentials."""
        result = await self.execute(
            "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
            " { token expiresAt userErrors { path message code } } }",
            {"u": username, "p": password},
        )
        return result["data"]["login"]


def make_gql(app) -> GraphQLClient:
    """A GraphQLClient talking to `app` in-process (no lifespan: the `orm` fixture owns ORM)."""
    transport = httpx.ASGITransport(app=app)
    return GraphQLClient(httpx.AsyncClient(transport=transport, base_url="http://testserver"))


@pytest_asyncio.fixture(loop_scope="session")
async def gql(db: None, app_settings: Settings) -> AsyncIterator[GraphQLClient]:
    """A client for create_app(app_settings, manage_orm=False) on an empty database."""
    from contactplan.app import create_app

    client = make_gql(create_app(app_settings, manage_orm=False))
    yield client
    await client.http.aclose()


class Accounts:
    """Two contact databases (`database`, `other_database`) and one user per built-in
    profile, each granted `database` only; `token[profile]` is a valid bearer token."""

    def __init__(self, settings: Settings, password_hash: str) -> None:
        self.settings = settings
        self.password_hash = password_hash
        self.users: dict = {}
        self.token: dict[str, str] = {}
        self.database = None
        self.other_database = None

    async def make_user(self, username: str, profile: str, databases: list | None = None):
        """A user with the TEST_PASSWORD (no hashing cost), profile and database grants."""
        from models import Profile, User

        user = await User.create(
            username=username,
            password_hash=self.password_hash,
            profile=await Profile.get(name=profile),
            display_name=username.title(),
        )
        if databases:
            await user.databases.add(*databases)
        return user

    def token_for(self, user) -> str:
        """A bearer token for `user` as it is now."""
        from permissions.tokens import issue_token

        token, _ = issue_token(
            self.settings.secret_key,
            user.id,
            user.token_version,
            self.settings.token_ttl_seconds,
        )
        return token


async def build_accounts(settings: Settings, password_hash: str) -> Accounts:
    """Built-in profiles, two databases and users admin/poweruser/user/guest (see Accounts)."""
    from models import ContactDatabase
    from permissions.bootstrap import ensure_builtin_profiles
    from permissions.names import BUILTIN_PROFILES

    await ensure_builtin_profiles()
    result = Accounts(settings, password_hash)
    result.database = await ContactDatabase.create(name="Main", timezone="Europe/Rome")
    result.other_database = await ContactDatabase.create(name="Other", timezone="UTC")
    for profile in BUILTIN_PROFILES:
        user = await result.make_user(profile.lower(), profile, [result.database])
        result.users[profile] = user
        result.token[profile] = result.token_for(user)
    return result


@pytest_asyncio.fixture(loop_scope="session")
async def accounts(db: None, app_settings: Settings, test_password_hash: str) -> Accounts:
    """Built-in profiles, two databases and users admin/poweruser/user/guest."""
    return await build_accounts(app_settings, test_password_hash)


# ---- end of GraphQL app client block ----
