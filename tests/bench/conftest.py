"""Fixtures of the demo data generator tests: one generated database shared by read-only tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio
from tortoise.contrib.test import truncate_all_models

from bench.datagen import generate
from contactplan.db import credentials_from_url

DEMO_CONTACTS = 2000


@pytest_asyncio.fixture(loop_scope="session")
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw connection to the test database, for checking what the generator wrote."""
    conn = await asyncpg.connect(**credentials_from_url(database_url))
    yield conn
    await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def demo(orm: None, database_url: str) -> int:
    """Id of a demo database of DEMO_CONTACTS contacts (seed 7), generated once per module.

    Tests using it only read; tests that generate their own data use the `db` fixture.
    """
    await truncate_all_models()
    return await generate(database_url, contacts=DEMO_CONTACTS, name="shared", progress=False)
