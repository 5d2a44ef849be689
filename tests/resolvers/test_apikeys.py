"""API keys: secret shown once and stored hashed, profile and database grants, revocation."""

from __future__ import annotations

import hashlib

from models import ApiKey, AuditEntry
from schema.relay import global_id, node_pk

CREATE = """mutation($input: CreateApiKeyInput!) { createApiKey(input: $input)
  { secret apiKey { id name prefix isActive profile { name } databases { name }
    createdBy { username } } userErrors { path code } } }"""


def codes(result: dict) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


def gid(type_name: str, pk: int) -> str:
    return str(global_id(type_name, pk))


def nodes(result: dict, field: str = "apiKeys") -> list[dict]:
    return [edge["node"] for edge in result["data"][field]["edges"]]


async def _create(gql, accounts, profile: str = "GUEST", databases=None) -> dict:
    chosen = databases if databases is not None else [accounts.database]
    ids = [gid("Database", d.id) for d in chosen]
    result = await gql.execute(
        CREATE,
        {"input": {"name": "nightly import", "profile": profile, "databaseIds": ids}},
        token=accounts.token["ADMIN"],
    )
    return result["data"]["createApiKey"]


async def test_created_key_works_and_is_stored_hashed(gql, accounts) -> None:
    payload = await _create(gql, accounts)
    assert payload["userErrors"] == []
    secret, key = payload["secret"], payload["apiKey"]
    assert secret.startswith(f"cpk_{key['prefix']}_")
    assert key["profile"] == {"name": "GUEST"}
    assert key["databases"] == [{"name": "Main"}]
    assert key["createdBy"] == {"username": "admin"}
    row = await ApiKey.get(id=node_pk(key["id"], "ApiKey"))
    secret_part = secret.split("_", 2)[2]
    assert row.key_hash == hashlib.sha256(secret_part.encode()).hexdigest()
    assert secret_part not in row.key_hash
    me = await gql.execute("{ me { kind databases { name } } }", token=secret)
    assert me["data"]["me"] == {"kind": "API_KEY", "databases": [{"name": "Main"}]}
    entry = await AuditEntry.get(object_type="api_key", action="create")
    assert secret_part not in str(entry.after)


async def test_secret_is_never_shown_again(gql, accounts) -> None:
    payload = await _create(gql, accounts)
    listing = await gql.execute(
        "{ apiKeys { edges { node { name prefix } } } }", token=accounts.token["ADMIN"]
    )
    assert payload["secret"] not in str(listing)
    assert nodes(listing) == [{"name": "nightly import", "prefix": payload["apiKey"]["prefix"]}]


async def test_key_carries_its_profile(gql, accounts) -> None:
    secret = (await _create(gql, accounts, profile="GUEST"))["secret"]
    result = await gql.execute("{ users { totalCount } }", token=secret)
    assert codes(result) == ["FORBIDDEN"]


async def test_key_sees_only_its_databases(gql, accounts) -> None:
    secret = (await _create(gql, accounts, databases=[]))["secret"]
    result = await gql.execute("{ databases { name } }", token=secret)
    assert result["data"]["databases"] == []
    result = await gql.execute(
        "query($id: ID!) { database(id: $id) { name } }",
        {"id": gid("Database", accounts.database.id)},
        token=secret,
    )
    assert codes(result) == ["NOT_FOUND"]


async def test_revoke_stops_the_key_at_once(gql, accounts) -> None:
    payload = await _create(gql, accounts)
    result = await gql.execute(
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { isActive revokedAt } } }",
        {"id": payload["apiKey"]["id"]},
        token=accounts.token["ADMIN"],
    )
    assert result["data"]["revokeApiKey"]["apiKey"]["isActive"] is False
    assert codes(await gql.execute("{ me { name } }", token=payload["secret"])) == [
        "UNAUTHENTICATED"
    ]
    listing = await gql.execute(
        "{ apiKeys { totalCount edges { node { id } } } }", token=accounts.token["ADMIN"]
    )
    assert listing["data"]["apiKeys"] == {"totalCount": 0, "edges": []}
    revoked = await gql.execute(
        "{ apiKeys(includeRevoked: true) { edges { node { id } } } }",
        token=accounts.token["ADMIN"],
    )
    assert nodes(revoked) == [{"id": payload["apiKey"]["id"]}]
    # revoking again changes nothing and writes no second entry
    await gql.execute(
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }",
        {"id": payload["apiKey"]["id"]},
        token=accounts.token["ADMIN"],
    )
    assert await AuditEntry.filter(object_type="api_key", action="revoke").count() == 1


async def test_key_name_is_required(gql, accounts) -> None:
    result = await gql.execute(
        'mutation { createApiKey(input: {name: "  ", profile: "GUEST"}) '
        "{ secret userErrors { path code } } }",
        token=accounts.token["ADMIN"],
    )
    assert result["data"]["createApiKey"] == {
        "secret": None,
        "userErrors": [{"path": ["name"], "code": "INVALID"}],
    }
    assert await ApiKey.all().count() == 0


async def test_key_for_unknown_database_is_not_found(gql, accounts) -> None:
    result = await gql.execute(
        'mutation($db: ID!) { createApiKey(input: {name: "k", profile: "GUEST",'
        " databaseIds: [$db]}) { secret } }",
        {"db": gid("Database", 77777)},
        token=accounts.token["ADMIN"],
    )
    assert codes(result) == ["NOT_FOUND"]
    assert await ApiKey.all().count() == 0


async def test_api_keys_page_newest_first(gql, accounts) -> None:
    for _ in range(3):
        await _create(gql, accounts)
    expected = [
        gid("ApiKey", pk)
        for pk in await ApiKey.all().order_by("-created_at", "id").values_list("id", flat=True)
    ]
    query = """query($after: String) { apiKeys(first: 2, after: $after)
      { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }"""
    first = await gql.execute(query, {"after": None}, token=accounts.token["ADMIN"])
    connection = first["data"]["apiKeys"]
    assert connection["totalCount"] == 3 and connection["pageInfo"]["hasNextPage"]
    after = connection["pageInfo"]["endCursor"]
    second = await gql.execute(query, {"after": after}, token=accounts.token["ADMIN"])
    assert [n["id"] for n in nodes(first) + nodes(second)] == expected


async def test_oversized_profile_name_is_an_input_mistake(gql, accounts) -> None:
    result = await gql.execute(
        CREATE,
        {"input": {"name": "k", "profile": "y" * 1000, "databaseIds": []}},
        token=accounts.token["ADMIN"],
    )
    assert "errors" not in result, result
    assert result["data"]["createApiKey"]["userErrors"] == [
        {"path": ["profile"], "code": "NOT_FOUND"}
    ]
