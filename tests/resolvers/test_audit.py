"""The audit log: every successful mutation writes one entry with the request id;
the log is readable with audit.read, filtered, paged, and scoped to visible databases."""

from __future__ import annotations

import pytest

from models import ApiKey, AuditEntry, Profile
from permissions.apikeys import generate_api_key
from permissions.audit import record_audit
from schema.accounts import AccountsMutation
from schema.databases import DatabasesMutation
from schema.relay import global_id, node_pk
from schema.root import operation_table
from tests.conftest import TEST_PASSWORD

MUTATIONS = [*sorted(operation_table(AccountsMutation, DatabasesMutation)), "login"]


def gid(type_name: str, pk: int) -> str:
    return str(global_id(type_name, pk))


def object_ids(result: dict) -> list[str]:
    return [edge["node"]["objectId"] for edge in result["data"]["auditEntries"]["edges"]]


async def _successful_request(name: str, accounts) -> tuple[str, dict, str, str]:
    """(document, variables, token, expected 'action object_type') of a mutation that works."""
    admin = accounts.token["ADMIN"]
    guest_id = gid("User", accounts.users["GUEST"].id)
    db_id = gid("Database", accounts.other_database.id)
    custom = await Profile.create(name="Custom", permissions=["segment.read"], builtin=False)
    new = generate_api_key()
    key = await ApiKey.create(
        name="k",
        prefix=new.prefix,
        key_hash=new.key_hash,
        profile=custom,
        created_by=accounts.users["ADMIN"],
    )
    requests = {
        "login": (
            'mutation($p: String!) { login(username: "user", password: $p) { token } }',
            {"p": TEST_PASSWORD},
            "",
            "login user",
        ),
        "logout": ("mutation { logout { ok } }", {}, accounts.token["USER"], "logout user"),
        "changePassword": (
            "mutation($p: String!) { changePassword(currentPassword: $p,"
            ' newPassword: "brand-new-password") { token } }',
            {"p": TEST_PASSWORD},
            accounts.token["USER"],
            "set_password user",
        ),
        "createUser": (
            'mutation { createUser(input: {username: "nu", password: "long-enough-pw"})'
            " { user { id } } }",
            {},
            admin,
            "create user",
        ),
        "updateUser": (
            'mutation($id: ID!) { updateUser(id: $id, input: {displayName: "Gus"})'
            " { user { id } } }",
            {"id": guest_id},
            admin,
            "update user",
        ),
        "deactivateUser": (
            "mutation($id: ID!) { deactivateUser(id: $id) { user { id } } }",
            {"id": guest_id},
            admin,
            "deactivate user",
        ),
        "setUserPassword": (
            'mutation($id: ID!) { setUserPassword(id: $id, password: "set-by-admin-1")'
            " { user { id } } }",
            {"id": guest_id},
            admin,
            "set_password user",
        ),
        "grantDatabases": (
            "mutation($id: ID!, $db: ID!) { grantDatabases(userId: $id, databaseIds: [$db])"
            " { user { id } } }",
            {"id": guest_id, "db": db_id},
            admin,
            "grant user",
        ),
        "revokeDatabases": (
            "mutation($id: ID!, $db: ID!) { revokeDatabases(userId: $id, databaseIds: [$db])"
            " { user { id } } }",
            {"id": guest_id, "db": gid("Database", accounts.database.id)},
            admin,
            "revoke user",
        ),
        "createProfile": (
            'mutation { createProfile(input: {name: "New one"}) { profile { id } } }',
            {},
            admin,
            "create profile",
        ),
        "updateProfile": (
            'mutation($id: ID!) { updateProfile(id: $id, input: {description: "changed"})'
            " { profile { id } } }",
            {"id": gid("Profile", custom.id)},
            admin,
            "update profile",
        ),
        "deleteProfile": (
            "mutation($id: ID!) { deleteProfile(id: $id) { deletedId } }",
            {"id": gid("Profile", (await Profile.create(name="Unused", builtin=False)).id)},
            admin,
            "delete profile",
        ),
        "createApiKey": (
            'mutation { createApiKey(input: {name: "etl", profile: "GUEST"}) { secret } }',
            {},
            admin,
            "create api_key",
        ),
        "revokeApiKey": (
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }",
            {"id": gid("ApiKey", key.id)},
            admin,
            "revoke api_key",
        ),
        "createDatabase": (
            'mutation { createDatabase(input: {name: "Audited"}) { database { id } } }',
            {},
            admin,
            "create database",
        ),
    }
    return requests[name]


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_every_mutation_writes_one_audit_entry_with_the_request_id(
    gql, accounts, mutation: str
) -> None:
    document, variables, token, expected = await _successful_request(mutation, accounts)
    before = await AuditEntry.all().count()
    response = await gql.post(
        document, variables, token=token or None, headers={"X-Request-ID": f"audit-{mutation}"}
    )
    body = response.json()
    assert "errors" not in body, body
    entries = await AuditEntry.filter(request_id=f"audit-{mutation}")
    assert [f"{e.action} {e.object_type}" for e in entries] == [expected]
    assert await AuditEntry.all().count() == before + 1
    assert entries[0].actor in {"admin", "user"}


async def test_audit_log_lists_newest_first_with_paging_and_filters(gql, accounts) -> None:
    admin = accounts.token["ADMIN"]
    for i in range(5):
        await record_audit(None, "update", "segment", i, database_id=accounts.database.id)
    await record_audit(None, "delete", "plan", 9, database_id=accounts.database.id)
    query = """query($f: AuditFilter, $first: Int!, $after: String) {
      auditEntries(filter: $f, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id action objectId } } } }"""
    seg = {"objectType": "segment"}
    page1 = await gql.execute(query, {"f": seg, "first": 3}, token=admin)
    assert object_ids(page1) == ["4", "3", "2"]
    assert page1["data"]["auditEntries"]["totalCount"] == 5
    after = page1["data"]["auditEntries"]["pageInfo"]["endCursor"]
    page2 = await gql.execute(query, {"f": seg, "first": 3, "after": after}, token=admin)
    assert object_ids(page2) == ["1", "0"]
    assert page2["data"]["auditEntries"]["pageInfo"]["hasNextPage"] is False
    deletes = await gql.execute(query, {"f": {"action": "delete"}, "first": 10}, token=admin)
    assert object_ids(deletes) == ["9"]
    in_main = {"databaseId": gid("Database", accounts.database.id), "objectType": "plan"}
    assert object_ids(await gql.execute(query, {"f": in_main, "first": 5}, token=admin)) == ["9"]


async def test_audit_log_hides_databases_the_reader_cannot_see(gql, accounts) -> None:
    await Profile.create(name="Auditor", permissions=["audit.read"], builtin=False)
    auditor = await accounts.make_user("aud", "Auditor", [accounts.database])
    await record_audit(None, "update", "segment", 1, database_id=accounts.database.id)
    await record_audit(None, "update", "segment", 2, database_id=accounts.other_database.id)
    await record_audit(None, "update", "setting", 3)
    result = await gql.execute(
        '{ auditEntries(filter: {action: "update"}) { edges { node { objectId } } } }',
        token=accounts.token_for(auditor),
    )
    assert object_ids(result) == ["3", "1"]


async def test_audit_entry_never_stores_secrets(db) -> None:
    entry = await record_audit(
        None,
        "update",
        "user",
        1,
        before={"password": "p1", "password_hash": "h", "nested": {"token": "t", "ok": 1}},
        after={"key_hash": "k", "secret": "s", "name": "n"},
    )
    assert entry.before == {"nested": {"ok": 1}}
    assert entry.after == {"name": "n"}
    assert entry.actor == "system"


async def test_audit_entry_names_actor_and_database_by_global_id(gql, accounts) -> None:
    created = await gql.execute(
        'mutation { createDatabase(input: {name: "Shop"}) { database { id } } }',
        token=accounts.token["ADMIN"],
    )
    shop = created["data"]["createDatabase"]["database"]["id"]
    admin = gid("User", accounts.users["ADMIN"].id)
    query = """query($f: AuditFilter) { auditEntries(filter: $f)
      { totalCount edges { node { userId apiKeyId databaseId objectId } } } }"""
    result = await gql.execute(query, {"f": {"userId": admin}}, token=accounts.token["ADMIN"])
    assert [e["node"] for e in result["data"]["auditEntries"]["edges"]] == [
        {"userId": admin, "apiKeyId": None, "databaseId": shop, "objectId": shop_pk(shop)}
    ]
    other = {"userId": gid("User", accounts.users["GUEST"].id)}
    none = await gql.execute(query, {"f": other}, token=accounts.token["ADMIN"])
    assert none["data"]["auditEntries"]["totalCount"] == 0
    wrong_type = {"userId": gid("Database", accounts.database.id)}
    refused = await gql.execute(query, {"f": wrong_type}, token=accounts.token["ADMIN"])
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["NOT_FOUND"]


def shop_pk(database_gid: str) -> str:
    return str(node_pk(database_gid, "Database"))


async def test_history_of_one_object_by_its_global_id(gql, accounts) -> None:
    guest = gid("User", accounts.users["GUEST"].id)
    for name in ("Gus", "Gustav"):
        await gql.execute(
            "mutation($id: ID!, $n: String!) { updateUser(id: $id, input: {displayName: $n})"
            " { user { id } } }",
            {"id": guest, "n": name},
            token=accounts.token["ADMIN"],
        )
    await record_audit(None, "update", "user", accounts.users["USER"].id)
    await record_audit(None, "update", "setting", 7)
    query = """query($s: ID!) { auditEntries(filter: {subjectId: $s})
      { edges { node { action subjectId after } } } }"""
    result = await gql.execute(query, {"s": guest}, token=accounts.token["ADMIN"])
    entries = [e["node"] for e in result["data"]["auditEntries"]["edges"]]
    assert [(e["subjectId"], e["after"]["display_name"]) for e in entries] == [
        (guest, "Gustav"),
        (guest, "Gus"),
    ]
    found = await gql.execute(
        "query($id: ID!) { node(id: $id) { ... on User { displayName } } }",
        {"id": entries[0]["subjectId"]},
        token=accounts.token["ADMIN"],
    )
    assert found["data"]["node"] == {"displayName": "Gustav"}
    setting = await gql.execute(
        '{ auditEntries(filter: {objectType: "setting"}) { edges { node { subjectId } } } }',
        token=accounts.token["ADMIN"],
    )
    assert setting["data"]["auditEntries"]["edges"] == [{"node": {"subjectId": None}}]


async def test_oversized_filter_values_are_bad_user_input(gql, accounts) -> None:
    for field in ("objectType", "objectId", "action"):
        result = await gql.execute(
            "query($f: AuditFilter) { auditEntries(filter: $f) { totalCount } }",
            {"f": {field: "y" * 1000}},
            token=accounts.token["ADMIN"],
        )
        assert [e["extensions"]["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]
        assert result["errors"][0]["message"] == f"{field} has at most 64 characters."
