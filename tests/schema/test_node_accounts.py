"""Global ids of the account types: `node(id:)` finds only what the caller may see,
wrong-type ids are NOT_FOUND, malformed ids are BAD_USER_INPUT (never masked), and
`me { capabilities }` says what the caller may do."""

from __future__ import annotations

import base64

import pytest
from graphql import GraphQLError
from strawberry.relay.types import InvalidGlobalIDError

from models import ApiKey, Profile, User
from permissions.apikeys import generate_api_key
from permissions.audit import record_audit
from permissions.names import BUILTIN_PROFILES, Perm
from schema.relay import global_id
from schema.root import code_malformed_id, is_unexpected
from tests.schema.statement_counter import count_statements

NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on Database { name }
  ... on User { username }
  ... on Profile { name }
  ... on ApiKey { name }
  ... on AuditEntry { action objectId }
} }"""


def gid(type_name: str, pk: int | str) -> str:
    return str(global_id(type_name, pk))  # type: ignore[arg-type]


def codes(result: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]


async def node(gql, ident: str, token: str) -> dict:
    return await gql.execute(NODE, {"id": ident}, token=token)


async def _key(accounts, profile: str = "GUEST") -> tuple[ApiKey, str]:
    new = generate_api_key()
    key = await ApiKey.create(
        name=f"key-{profile.lower()}",
        prefix=new.prefix,
        key_hash=new.key_hash,
        profile=await Profile.get(name=profile),
        created_by=accounts.users["ADMIN"],
    )
    await key.databases.add(accounts.database)
    return key, new.secret


# ---- node() per type, as owner / admin / someone who may not see it ----


async def test_database_node_for_granted_users_and_admin_only(gql, accounts) -> None:
    main, other = gid("Database", accounts.database.id), gid("Database", accounts.other_database.id)
    for profile in BUILTIN_PROFILES:
        found = await node(gql, main, accounts.token[profile])
        assert found["data"]["node"] == {"__typename": "Database", "id": main, "name": "Main"}
    admin = await node(gql, other, accounts.token["ADMIN"])
    assert admin["data"]["node"]["name"] == "Other"
    for profile in ("POWERUSER", "USER", "GUEST"):
        refused = await node(gql, other, accounts.token[profile])
        assert codes(refused) == ["NOT_FOUND"] and refused["data"] == {"node": None}
    missing = await node(gql, gid("Database", 987654), accounts.token["ADMIN"])
    assert codes(missing) == ["NOT_FOUND"]


async def test_database_ids_from_lists_resolve_through_node(gql, accounts) -> None:
    listed = await gql.execute("{ databases { id name } }", token=accounts.token["USER"])
    for database in listed["data"]["databases"]:
        found = await node(gql, database["id"], accounts.token["USER"])
        assert found["data"]["node"]["name"] == database["name"]


async def test_user_node_for_user_managers_and_the_user_itself(gql, accounts) -> None:
    guest = gid("User", accounts.users["GUEST"].id)
    admin = await node(gql, guest, accounts.token["ADMIN"])
    assert admin["data"]["node"] == {"__typename": "User", "id": guest, "username": "guest"}
    itself = await node(gql, guest, accounts.token["GUEST"])
    assert itself["data"]["node"]["username"] == "guest"
    for profile in ("POWERUSER", "USER"):
        assert codes(await node(gql, guest, accounts.token[profile])) == ["NOT_FOUND"]
    # an API key is not its creator
    _, secret = await _key(accounts)
    creator = gid("User", accounts.users["ADMIN"].id)
    assert codes(await node(gql, creator, secret)) == ["NOT_FOUND"]


async def test_me_user_id_is_a_global_id(gql, accounts) -> None:
    me = await gql.execute("{ me { user { id username } } }", token=accounts.token["USER"])
    user = me["data"]["me"]["user"]
    assert user["id"] == gid("User", accounts.users["USER"].id)
    found = await node(gql, user["id"], accounts.token["USER"])
    assert found["data"]["node"]["username"] == "user"


async def test_profile_node_is_readable_by_every_caller_like_profiles(gql, accounts) -> None:
    custom = await Profile.create(name="Readers", permissions=["segment.read"], builtin=False)
    ident = gid("Profile", custom.id)
    for profile in BUILTIN_PROFILES:
        found = await node(gql, ident, accounts.token[profile])
        assert found["data"]["node"] == {"__typename": "Profile", "id": ident, "name": "Readers"}
    listed = await gql.execute(
        "{ profiles { edges { node { id name } } } }", token=accounts.token["GUEST"]
    )
    edges = listed["data"]["profiles"]["edges"]
    assert {"id": ident, "name": "Readers"} in [e["node"] for e in edges]


async def test_api_key_node_for_key_managers_and_the_key_itself(gql, accounts) -> None:
    key, secret = await _key(accounts)
    ident = gid("ApiKey", key.id)
    admin = await node(gql, ident, accounts.token["ADMIN"])
    assert admin["data"]["node"] == {"__typename": "ApiKey", "id": ident, "name": "key-guest"}
    itself = await node(gql, ident, secret)
    assert itself["data"]["node"]["id"] == ident
    for profile in ("POWERUSER", "USER", "GUEST"):
        assert codes(await node(gql, ident, accounts.token[profile])) == ["NOT_FOUND"]
    other, _ = await _key(accounts, "USER")
    assert codes(await node(gql, gid("ApiKey", other.id), secret)) == ["NOT_FOUND"]


async def test_audit_entry_node_needs_audit_read_and_a_grant(gql, accounts) -> None:
    main = await record_audit(None, "update", "segment", 1, database_id=accounts.database.id)
    other = await record_audit(None, "update", "segment", 2, database_id=accounts.other_database.id)
    await Profile.create(name="Auditor", permissions=["audit.read"], builtin=False)
    auditor = accounts.token_for(await accounts.make_user("aud", "Auditor", [accounts.database]))
    main_id, other_id = gid("AuditEntry", main.id), gid("AuditEntry", other.id)
    for token in (accounts.token["ADMIN"], auditor):
        found = await node(gql, main_id, token)
        assert found["data"]["node"] == {
            "__typename": "AuditEntry",
            "id": main_id,
            "action": "update",
            "objectId": "1",
        }
    assert (await node(gql, other_id, accounts.token["ADMIN"]))["data"]["node"]["objectId"] == "2"
    assert codes(await node(gql, other_id, auditor)) == ["NOT_FOUND"]
    for profile in ("POWERUSER", "USER", "GUEST"):
        assert codes(await node(gql, main_id, accounts.token[profile])) == ["NOT_FOUND"]
    listed = await gql.execute(
        '{ auditEntries(filter: {objectType: "segment"}) { edges { node { id } } } }',
        token=accounts.token["ADMIN"],
    )
    assert [e["node"]["id"] for e in listed["data"]["auditEntries"]["edges"]] == [
        other_id,
        main_id,
    ]


async def test_node_needs_credentials(gql, accounts) -> None:
    result = await gql.execute(NODE, {"id": gid("Database", accounts.database.id)})
    assert codes(result) == ["UNAUTHENTICATED"]


# ---- wrong types and malformed ids ----


@pytest.mark.parametrize(
    "type_name", ["Query", "Mutation", "Viewer", "Capabilities", "NoSuchType", "PageInfo"]
)
async def test_node_with_a_non_node_type_is_not_found(gql, accounts, type_name: str) -> None:
    result = await node(gql, gid(type_name, accounts.database.id), accounts.token["ADMIN"])
    assert codes(result) == ["NOT_FOUND"] and result["data"] == {"node": None}


async def test_node_with_a_non_integer_key_is_not_found(gql, accounts) -> None:
    for key in ("abc", "-1", "1.5", "9" * 30, ""):
        result = await node(gql, gid("User", key), accounts.token["ADMIN"])
        assert codes(result) == ["NOT_FOUND"], key


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        ("query($id: ID!) { database(id: $id) { id } }", "User"),
        ("query($id: ID!) { user(id: $id) { id } }", "Database"),
        ("query($id: ID!) { profile(id: $id) { id } }", "User"),
        ("mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }", "User"),
        ("mutation($id: ID!) { deleteProfile(id: $id) { deletedId } }", "Database"),
        ("mutation($id: ID!) { deactivateUser(id: $id) { user { id } } }", "ApiKey"),
        (
            "mutation($id: ID!) { grantDatabases(userId: $id, databaseIds: [$id])"
            " { user { id } } }",
            "Profile",
        ),
    ],
)
async def test_argument_with_an_id_of_another_type_is_not_found(
    gql, accounts, document: str, variables: str
) -> None:
    # the primary key exists for every type (the admin user, Main, ...): only the type is wrong
    wrong = gid(variables, accounts.users["ADMIN"].id)
    result = await gql.execute(document, {"id": wrong}, token=accounts.token["ADMIN"])
    assert codes(result) == ["NOT_FOUND"], result
    await accounts.users["ADMIN"].refresh_from_db()
    assert accounts.users["ADMIN"].is_active


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


MALFORMED = ["garbage!!", "12", "", _base64("no colon"), "%%%", "VXNlcjox=="[:5]]


@pytest.mark.parametrize("value", MALFORMED)
async def test_malformed_id_is_bad_user_input_not_an_internal_error(
    gql, accounts, value: str
) -> None:
    for document in (
        NODE,
        "query($id: ID!) { database(id: $id) { id } }",
        "query($id: ID!) { user(id: $id) { id } }",
    ):
        result = await gql.execute(document, {"id": value}, token=accounts.token["ADMIN"])
        assert codes(result) == ["BAD_USER_INPUT"], result
        assert "GlobalID" in result["errors"][0]["message"]
        assert list(result["data"].values()) == [None]


async def test_malformed_id_as_a_literal_and_in_an_input(gql, accounts) -> None:
    literal = await gql.execute('{ node(id: "garbage") { id } }', token=accounts.token["ADMIN"])
    assert codes(literal) == ["BAD_USER_INPUT"]
    created = await gql.execute(
        'mutation { createUser(input: {username: "nu", password: "long-enough-pw",'
        ' databaseIds: ["garbage"]}) { user { id } } }',
        token=accounts.token["ADMIN"],
    )
    assert codes(created) == ["BAD_USER_INPUT"]
    assert not await User.filter(username="nu").exists()
    audit = await gql.execute(
        '{ auditEntries(filter: {databaseId: "garbage"}) { totalCount } }',
        token=accounts.token["ADMIN"],
    )
    assert codes(audit) == ["BAD_USER_INPUT"]


def test_masking_leaves_malformed_id_errors_alone() -> None:
    original = InvalidGlobalIDError('Value cannot represent a GlobalID: "x".')
    error = GraphQLError(original.message, original_error=original)
    assert not is_unexpected(error)
    code_malformed_id(error)
    assert error.extensions == {"code": "BAD_USER_INPUT"}
    crash = GraphQLError("boom", original_error=ZeroDivisionError("boom"))
    assert is_unexpected(crash)
    code_malformed_id(crash)
    assert not crash.extensions


# ---- me: what the caller may do ----


def _flag(perm: Perm) -> str:
    first, *rest = perm.name.lower().split("_")
    return first + "".join(word.title() for word in rest)


CAPABILITIES = "{ me { permissions capabilities { " + " ".join(map(_flag, Perm)) + " } } }"


@pytest.mark.parametrize("profile", list(BUILTIN_PROFILES))
async def test_me_capabilities_match_the_profile(gql, accounts, profile: str) -> None:
    result = await gql.execute(CAPABILITIES, token=accounts.token[profile])
    me = result["data"]["me"]
    flags = list(me["capabilities"].values())
    assert len(flags) == len(Perm)
    held = [perm.name for perm, flag in zip(Perm, flags, strict=True) if flag]
    assert sorted(held) == sorted(p.name for p in BUILTIN_PROFILES[profile])
    assert sorted(me["permissions"]) == sorted(held)


async def test_me_capabilities_of_an_api_key_follow_its_profile(gql, accounts) -> None:
    _, secret = await _key(accounts, "USER")
    result = await gql.execute(
        "{ me { kind capabilities { segmentWrite planRun userManage personalDataRead } } }",
        token=secret,
    )
    assert result["data"]["me"] == {
        "kind": "API_KEY",
        "capabilities": {
            "segmentWrite": True,
            "planRun": True,
            "userManage": False,
            "personalDataRead": False,
        },
    }


# ---- connections: no N+1, the total only when asked for ----

USERS = """query($n: Int!) { users(first: $n) { edges { node {
  id username profile { name } databases { name } } } } }"""


async def test_user_connection_statements_do_not_grow_with_the_page(gql, accounts) -> None:
    for i in range(20):
        await accounts.make_user(f"many{i:02d}", "USER", [accounts.database])
    token = accounts.token["ADMIN"]
    with count_statements() as one:
        small = await gql.execute(USERS, {"n": 1}, token=token)
    with count_statements() as many:
        large = await gql.execute(USERS, {"n": 24}, token=token)
    assert len(small["data"]["users"]["edges"]) == 1
    assert len(large["data"]["users"]["edges"]) == 24
    assert one.count > 0 and many.count == one.count, many.statements


async def test_connections_count_the_total_only_when_asked(gql, accounts) -> None:
    await record_audit(None, "update", "segment", 1, database_id=accounts.database.id)
    token = accounts.token["ADMIN"]
    connections = {
        "users": "UserConnection",
        "profiles": "ProfileConnection",
        "apiKeys": "ApiKeyConnection",
        "auditEntries": "AuditEntryConnection",
    }
    for field, connection in connections.items():
        with count_statements() as plain:
            await gql.execute(f"{{ {field} {{ edges {{ cursor }} }} }}", token=token)
        with count_statements() as counted:
            result = await gql.execute(
                f"{{ {field} {{ ...T }} }} fragment T on {connection} {{ totalCount }}",
                token=token,
            )
        assert plain.matching("COUNT") == [], (field, plain.statements)
        assert len(counted.matching("COUNT")) == 1, (field, counted.statements)
        assert result["data"][field]["totalCount"] is not None, result
