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
from permissions.names import BUILTIN_PROFILES
from schema.accounts import AccountsMutation, AccountsQuery
from schema.audit import AuditQuery
from schema.databases import DatabasesMutation, DatabasesQuery
from schema.root import build_schema, operation_table
from tests.conftest import Accounts, build_accounts, make_gql

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
    return str(key.id)


async def _profile_id(name: str) -> str:
    return str((await Profile.get(name=name)).id)


# operation -> async (accounts) -> (document, variables)
SAMPLES = {
    "me": lambda a: ("{ me { name } }", None),
    "permissionCatalog": lambda a: ("{ permissionCatalog { permission } }", None),
    "users": lambda a: ("{ users { id } }", None),
    "user": lambda a: ("query($id: ID!) { user(id: $id) { id } }", {"id": a.victim}),
    "profiles": lambda a: ("{ profiles { id } }", None),
    "profile": "profile",
    "apiKeys": lambda a: ("{ apiKeys { id } }", None),
    "databases": lambda a: ("{ databases { id } }", None),
    "database": lambda a: (
        "query($id: ID!) { database(id: $id) { id } }",
        {"id": str(a.database.id)},
    ),
    "auditEntries": lambda a: ("{ auditEntries { id } }", None),
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
        {"id": a.victim, "db": str(a.database.id)},
    ),
    "revokeDatabases": lambda a: (
        "mutation($id: ID!, $db: ID!) { revokeDatabases(userId: $id, databaseIds: [$db])"
        " { user { id } } }",
        {"id": a.victim, "db": str(a.database.id)},
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
    accounts.victim = str(victim.id)
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
