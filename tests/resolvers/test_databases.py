"""Databases: visible ones only, other databases are NOT_FOUND, creating with a catalog."""

from __future__ import annotations

import asyncio

import pytest

from models import AuditEntry, ContactDatabase, EventType, Field
from schema.relay import global_id
from schema.relay import node_pk as pk_of

GET = "query($id: ID!) { database(id: $id) { id name timezone } }"


def gid(pk: int) -> str:
    return str(global_id("Database", pk))


def codes(result: dict) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


@pytest.mark.parametrize("profile", ["POWERUSER", "USER", "GUEST"])
async def test_granted_users_see_only_their_databases(gql, accounts, profile: str) -> None:
    result = await gql.execute("{ databases { name } }", token=accounts.token[profile])
    assert result["data"]["databases"] == [{"name": "Main"}]


async def test_admin_sees_every_database(gql, accounts) -> None:
    result = await gql.execute(
        "{ databases { name } me { allDatabases } }", token=accounts.token["ADMIN"]
    )
    assert result["data"]["databases"] == [{"name": "Main"}, {"name": "Other"}]
    assert result["data"]["me"]["allDatabases"] is True


@pytest.mark.parametrize("profile", ["POWERUSER", "USER", "GUEST"])
async def test_other_database_is_not_found_not_forbidden(gql, accounts, profile: str) -> None:
    other = await gql.execute(
        GET, {"id": gid(accounts.other_database.id)}, token=accounts.token[profile]
    )
    missing = await gql.execute(GET, {"id": gid(987654)}, token=accounts.token[profile])
    assert codes(other) == ["NOT_FOUND"]
    assert codes(missing) == ["NOT_FOUND"]
    # the answer for an existing foreign database and a missing one differ only by the id
    assert other["errors"][0]["message"].replace(str(accounts.other_database.id), "?") == (
        missing["errors"][0]["message"].replace("987654", "?")
    )
    own = await gql.execute(GET, {"id": gid(accounts.database.id)}, token=accounts.token[profile])
    assert own["data"]["database"]["name"] == "Main"


async def test_create_database_with_standard_catalog(gql, accounts) -> None:
    result = await gql.execute(
        'mutation { createDatabase(input: {name: "Shop", timezone: "Europe/Rome",'
        ' description: "web shop"}) { database { id name timezone } userErrors { code } } }',
        token=accounts.token["ADMIN"],
    )
    payload = result["data"]["createDatabase"]
    assert payload["userErrors"] == []
    assert payload["database"]["timezone"] == "Europe/Rome"
    database_id = pk_of(payload["database"]["id"], "Database")
    assert await Field.filter(database_id=database_id, key="email").exists()
    assert await EventType.filter(database_id=database_id, key="purchase").exists()
    entry = await AuditEntry.get(object_type="database", action="create")
    assert entry.database_id == database_id and entry.after["name"] == "Shop"


async def test_create_database_input_mistakes(gql, accounts) -> None:
    result = await gql.execute(
        'mutation { createDatabase(input: {name: "Main", timezone: "Mars/Olympus"})'
        " { database { id } userErrors { path code } } }",
        token=accounts.token["ADMIN"],
    )
    assert result["data"]["createDatabase"] == {
        "database": None,
        "userErrors": [
            {"path": ["name"], "code": "DUPLICATE"},
            {"path": ["timezone"], "code": "INVALID_TIMEZONE"},
        ],
    }
    assert await ContactDatabase.all().count() == 2


async def test_concurrent_creates_of_one_name_give_one_database(gql, accounts) -> None:
    document = (
        'mutation { createDatabase(input: {name: "Race"}) { database { id } userErrors { code } } }'
    )
    results = await asyncio.gather(
        *[gql.execute(document, token=accounts.token["ADMIN"]) for _ in range(3)]
    )
    assert all("errors" not in r for r in results), results
    payloads = [r["data"]["createDatabase"] for r in results]
    assert sum(p["database"] is not None for p in payloads) == 1
    assert await ContactDatabase.filter(name="Race").count() == 1
