"""Every built-in profile x every accounts operation, as a user and as an API key:
allowed exactly when the profile holds the operation's permission, else FORBIDDEN.

The accounts are set up once for the module (truncating per test would dominate the
run time); each test targets its own fresh victim user and names, so tests stay
independent of each other and of their order.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from tortoise.contrib.test import truncate_all_models

from contactplan.settings import Settings
from models import ApiKey, AuditEntry, Profile
from permissions.apikeys import generate_api_key
from permissions.auth import authenticate
from permissions.errors import Unauthenticated
from permissions.names import BUILTIN_PROFILES
from resolvers.context import RequestContext
from schema.accounts import AccountsMutation, AccountsQuery
from schema.audit import AuditQuery
from schema.databases import DatabasesMutation, DatabasesQuery
from schema.relay import global_id
from schema.root import build_schema, operation_table
from tests.conftest import Accounts, build_accounts, make_gql
from tests.schema.operation_stubs import StubValues, stub_request

_unique = itertools.count()

ACCOUNT_OPERATIONS = operation_table(
    AccountsQuery, DatabasesQuery, AuditQuery, AccountsMutation, DatabasesMutation
)


async def _key_id(accounts) -> str:
    new = generate_api_key()
    key = await ApiKey.create(
        name="sample",
        prefix=new.prefix,
        key_hash=new.key_hash,
        profile=await Profile.get(name="GUEST"),
        created_by=accounts.users["ADMIN"],
    )
    return str(global_id("ApiKey", key.id))


async def _profile_id(name: str) -> str:
    return str(global_id("Profile", (await Profile.get(name=name)).id))


def _database_id(accounts) -> str:
    return str(global_id("Database", accounts.database.id))


# operation -> async (accounts) -> (document, variables)
SAMPLES = {
    "me": lambda a: ("{ me { name } }", None),
    "permissionCatalog": lambda a: ("{ permissionCatalog { permission } }", None),
    "users": lambda a: ("{ users { totalCount } }", None),
    "user": lambda a: ("query($id: ID!) { user(id: $id) { id } }", {"id": a.victim}),
    "profiles": lambda a: ("{ profiles { totalCount } }", None),
    "profile": "profile",
    "apiKeys": lambda a: ("{ apiKeys { totalCount } }", None),
    "databases": lambda a: ("{ databases { id } }", None),
    "database": lambda a: (
        "query($id: ID!) { database(id: $id) { id } }",
        {"id": _database_id(a)},
    ),
    "auditEntries": lambda a: ("{ auditEntries { totalCount } }", None),
    "logout": lambda a: ("mutation { logout { ok } }", None),
    "changePassword": lambda a: (
        'mutation { changePassword(currentPassword: "wrong-password", newPassword: "x")'
        " { userErrors { code } } }",
        None,
    ),
    "createUser": lambda a: (
        "mutation($name: String!) { createUser(input: {username: $name,"
        ' password: "long-enough-pw", profile: "GUEST"}) { user { id } userErrors { code } } }',
        {"name": f"newbie{next(_unique)}"},
    ),
    "updateUser": lambda a: (
        'mutation($id: ID!) { updateUser(id: $id, input: {displayName: "G"}) { user { id } } }',
        {"id": a.victim},
    ),
    "deactivateUser": lambda a: (
        "mutation($id: ID!) { deactivateUser(id: $id) { user { id } } }",
        {"id": a.victim},
    ),
    "setUserPassword": lambda a: (
        'mutation($id: ID!) { setUserPassword(id: $id, password: "another-password")'
        " { user { id } } }",
        {"id": a.victim},
    ),
    "grantDatabases": lambda a: (
        "mutation($id: ID!, $db: ID!) { grantDatabases(userId: $id, databaseIds: [$db])"
        " { user { id } } }",
        {"id": a.victim, "db": _database_id(a)},
    ),
    "revokeDatabases": lambda a: (
        "mutation($id: ID!, $db: ID!) { revokeDatabases(userId: $id, databaseIds: [$db])"
        " { user { id } } }",
        {"id": a.victim, "db": _database_id(a)},
    ),
    "createProfile": lambda a: (
        "mutation($name: String!) { createProfile(input: {name: $name,"
        " permissions: [SEGMENT_READ]}) { profile { id } } }",
        {"name": f"Readers {next(_unique)}"},
    ),
    "updateProfile": "updateProfile",
    "deleteProfile": "deleteProfile",
    "createApiKey": lambda a: (
        'mutation { createApiKey(input: {name: "etl", profile: "GUEST"}) { secret } }',
        None,
    ),
    "revokeApiKey": "revokeApiKey",
    "createDatabase": lambda a: (
        'mutation($name: String!) { createDatabase(input: {name: $name, timezone: "UTC"})'
        " { database { id } } }",
        {"name": f"Fresh {next(_unique)}"},
    ),
}


async def sample(operation: str, accounts) -> tuple[str, dict | None]:
    """The request that exercises `operation` (user operations target a fresh victim)."""
    spec = SAMPLES[operation]
    victim = await accounts.make_user(f"victim{next(_unique)}", "GUEST", [accounts.database])
    accounts.victim = str(global_id("User", victim.id))
    if operation == "profile":
        pid = await _profile_id("USER")
        return "query($id: ID!) { profile(id: $id) { id } }", {"id": pid}
    if operation == "updateProfile":
        pid = await _profile_id("GUEST")
        return (
            'mutation($id: ID!) { updateProfile(id: $id, input: {description: "x"})'
            " { userErrors { code } } }",
            {"id": pid},
        )
    if operation == "deleteProfile":
        pid = await _profile_id("GUEST")
        return "mutation($id: ID!) { deleteProfile(id: $id) { userErrors { code } } }", {"id": pid}
    if operation == "revokeApiKey":
        kid = await _key_id(accounts)
        return "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }", {"id": kid}
    return spec(accounts)


def test_every_accounts_operation_has_a_sample() -> None:
    assert set(SAMPLES) == set(ACCOUNT_OPERATIONS)


def test_schema_declares_the_accounts_operations() -> None:
    operations = build_schema(Settings()).operations
    assert ACCOUNT_OPERATIONS.items() <= operations.items()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def matrix(orm: None, app_settings: Settings, test_password_hash: str) -> Accounts:
    """Accounts for the whole module, plus one API key per built-in profile."""
    await truncate_all_models()
    accounts = await build_accounts(app_settings, test_password_hash)
    accounts.keys = {}
    for profile, user in accounts.users.items():
        new = generate_api_key()
        key = await ApiKey.create(
            name=f"key-{profile}",
            prefix=new.prefix,
            key_hash=new.key_hash,
            profile=await Profile.get(name=profile),
            created_by=user,
        )
        await key.databases.add(accounts.database)
        accounts.keys[profile] = new.secret
    return accounts


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(matrix: Accounts, app_settings: Settings) -> AsyncIterator:
    """One in-process client for the module."""
    from contactplan.app import create_app

    gql = make_gql(create_app(app_settings, manage_orm=False))
    yield gql
    await gql.http.aclose()


async def _credential(accounts: Accounts, profile: str, kind: str) -> str:
    """A valid credential now (logout in an earlier test bumped the token version)."""
    if kind == "api_key":
        return accounts.keys[profile]
    user = accounts.users[profile]
    await user.refresh_from_db()
    return accounts.token_for(user)


@pytest.mark.parametrize("kind", ["user", "api_key"])
@pytest.mark.parametrize("profile", list(BUILTIN_PROFILES))
@pytest.mark.parametrize("operation", sorted(ACCOUNT_OPERATIONS))
async def test_profile_may_call_operation_iff_it_holds_the_permission(
    client, matrix, operation: str, profile: str, kind: str
) -> None:
    document, variables = await sample(operation, matrix)
    credential = await _credential(matrix, profile, kind)
    audit_before = await AuditEntry.all().count()
    result = await client.execute(document, variables, token=credential)
    codes = [e.get("extensions", {}).get("code") for e in result.get("errors", [])]
    perm = ACCOUNT_OPERATIONS[operation]
    allowed = perm is None or perm in BUILTIN_PROFILES[profile]
    if allowed:
        assert "FORBIDDEN" not in codes and "UNAUTHENTICATED" not in codes, result
        assert result["data"][operation] is not None, result
    else:
        assert codes == ["FORBIDDEN"], result
        assert result["data"] == {operation: None}
        assert await AuditEntry.all().count() == audit_before  # nothing happened


@pytest.mark.parametrize("operation", sorted(ACCOUNT_OPERATIONS))
async def test_anonymous_caller_is_unauthenticated(client, matrix, operation: str) -> None:
    document, variables = await sample(operation, matrix)
    result = await client.execute(document, variables)
    assert [e["extensions"]["code"] for e in result["errors"]] == ["UNAUTHENTICATED"]
    assert result["data"] == {operation: None}


# ---- Every root field of the whole schema, from `schema.operations`, with stub arguments ----
# made from the argument types (tests/schema/operation_stubs.py); ids name nothing, so an
# allowed call ends in NOT_FOUND or BAD_USER_INPUT at worst: the permission check passed.

SCHEMA = build_schema(Settings())
NOT_PASSED = {"FORBIDDEN", "UNAUTHENTICATED", "INTERNAL_SERVER_ERROR"}


def _root_of(operation: str) -> str:
    graphql = SCHEMA._schema
    for root in (graphql.query_type, graphql.mutation_type, graphql.subscription_type):
        if root is not None and operation in root.fields:
            return root.name
    raise AssertionError(f"{operation} is in schema.operations but on no root type")


def test_schema_operations_name_root_fields() -> None:
    assert SCHEMA.operations, "build_schema sets schema.operations"
    for operation in SCHEMA.operations:
        _root_of(operation)


async def _call(client, settings: Settings, operation: str, credential: str | None) -> dict:
    """The result of calling `operation` with stub arguments: queries and mutations over
    HTTP, subscriptions (no HTTP transport) through the schema with the same context."""
    root = _root_of(operation)
    document, variables = stub_request(SCHEMA._schema, root, operation, StubValues())
    if root != "Subscription":
        return await client.execute(document, variables, token=credential)
    context = RequestContext(settings=settings, request_id="matrix")
    try:
        header = f"Bearer {credential}" if credential else None
        context.principal = await authenticate(settings, header)
    except Unauthenticated as exc:
        context.auth_error = exc.message
    stream = await SCHEMA.subscribe(document, variable_values=variables, context_value=context)
    if not hasattr(stream, "__aiter__"):
        result = stream
    else:
        result = await anext(stream)
        await stream.aclose()
    document_result: dict = {"data": result.data}
    if result.errors:
        document_result["errors"] = [e.formatted for e in result.errors]
    return document_result


def _nothing_returned(result: dict, operation: str) -> bool:
    """A refused field is null (a refused subscription has no data at all)."""
    if _root_of(operation) == "Subscription" and result["data"] is None:
        return True
    return result["data"] == {operation: None}


@pytest.mark.parametrize("kind", ["user", "api_key"])
@pytest.mark.parametrize("profile", list(BUILTIN_PROFILES))
@pytest.mark.parametrize("operation", sorted(SCHEMA.operations))
async def test_every_operation_is_refused_exactly_without_its_permission(
    client, matrix, app_settings, operation: str, profile: str, kind: str
) -> None:
    credential = await _credential(matrix, profile, kind)
    result = await _call(client, app_settings, operation, credential)
    assert "data" in result, result  # executed: the stub request is valid
    codes = [e.get("extensions", {}).get("code") for e in result.get("errors", [])]
    perm = SCHEMA.operations[operation]
    if perm is None or perm in BUILTIN_PROFILES[profile]:
        assert not NOT_PASSED & set(codes), result
    else:
        assert codes == ["FORBIDDEN"], result
        assert _nothing_returned(result, operation), result


@pytest.mark.parametrize("operation", sorted(SCHEMA.operations))
async def test_every_operation_refuses_anonymous_callers(
    client, matrix, app_settings, operation: str
) -> None:
    result = await _call(client, app_settings, operation, None)
    assert [e["extensions"]["code"] for e in result["errors"]] == ["UNAUTHENTICATED"], result
    assert _nothing_returned(result, operation), result
