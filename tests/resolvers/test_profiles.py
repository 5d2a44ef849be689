"""Custom profiles: create, update, delete; built-ins fixed; changes take effect at once."""

from __future__ import annotations

import asyncio

from models import AuditEntry, Profile
from schema.relay import global_id

CREATE = """mutation($input: CreateProfileInput!) { createProfile(input: $input)
  { profile { id name builtin permissions } userErrors { path code } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateProfileInput!) { updateProfile(id: $id, input: $input)
  { profile { name description permissions } userErrors { path code } } }"""
DELETE = "mutation($id: ID!) { deleteProfile(id: $id) { deletedId userErrors { code message } } }"


def codes(result: dict) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


def gid(pk: int) -> str:
    return str(global_id("Profile", pk))


async def test_create_profile_and_use_it(gql, accounts) -> None:
    result = await gql.execute(
        CREATE,
        {"input": {"name": "Analyst", "permissions": ["SEGMENT_READ", "AUDIT_READ"]}},
        token=accounts.token["ADMIN"],
    )
    payload = result["data"]["createProfile"]
    assert payload["userErrors"] == []
    assert payload["profile"]["builtin"] is False
    assert payload["profile"]["permissions"] == ["AUDIT_READ", "SEGMENT_READ"]
    analyst = await accounts.make_user("ann", "Analyst", [accounts.database])
    token = accounts.token_for(analyst)
    me = await gql.execute("{ me { permissions operations } }", token=token)
    assert me["data"]["me"]["permissions"] == ["AUDIT_READ", "SEGMENT_READ"]
    assert "auditEntries" in me["data"]["me"]["operations"]
    assert "users" not in me["data"]["me"]["operations"]
    entry = await AuditEntry.get(object_type="profile", action="create", actor="admin")
    assert entry.after["permissions"] == ["audit.read", "segment.read"]


async def test_profile_names_are_checked(gql, accounts) -> None:
    await Profile.create(name="Analyst", permissions=[], builtin=False)
    for name, code in [("analyst", "DUPLICATE"), ("guest", "RESERVED"), ("9lives", "INVALID_NAME")]:
        result = await gql.execute(CREATE, {"input": {"name": name}}, token=accounts.token["ADMIN"])
        assert result["data"]["createProfile"]["userErrors"] == [
            {"path": ["name"], "code": code}
        ], name


async def test_unknown_permission_is_a_validation_error(gql, accounts) -> None:
    result = await gql.execute(
        CREATE,
        {"input": {"name": "Odd", "permissions": ["FLY"]}},
        token=accounts.token["ADMIN"],
    )
    assert "FLY" in result["errors"][0]["message"]
    assert not await Profile.filter(name="Odd").exists()


async def test_update_profile_changes_permissions_of_its_users_at_once(gql, accounts) -> None:
    profile = await Profile.create(name="Viewer", permissions=["segment.read"], builtin=False)
    viewer = await accounts.make_user("vic", "Viewer")
    token = accounts.token_for(viewer)
    result = await gql.execute(
        UPDATE,
        {"id": gid(profile.id), "input": {"permissions": ["AUDIT_READ"], "description": "d"}},
        token=accounts.token["ADMIN"],
    )
    assert result["data"]["updateProfile"] == {
        "profile": {"name": "Viewer", "description": "d", "permissions": ["AUDIT_READ"]},
        "userErrors": [],
    }
    me = await gql.execute("{ me { permissions } }", token=token)
    assert me["data"]["me"]["permissions"] == ["AUDIT_READ"]
    entry = await AuditEntry.get(object_type="profile", action="update")
    assert entry.before["permissions"] == ["segment.read"]
    assert entry.after["permissions"] == ["audit.read"]


async def test_builtin_profiles_cannot_be_changed_or_deleted(gql, accounts) -> None:
    guest = await Profile.get(name="GUEST")
    updated = await gql.execute(
        UPDATE,
        {"id": gid(guest.id), "input": {"permissions": ["USER_MANAGE"]}},
        token=accounts.token["ADMIN"],
    )
    assert updated["data"]["updateProfile"]["userErrors"] == [
        {"path": [], "code": "BUILTIN_PROFILE"}
    ]
    deleted = await gql.execute(DELETE, {"id": gid(guest.id)}, token=accounts.token["ADMIN"])
    assert deleted["data"]["deleteProfile"]["userErrors"][0]["code"] == "BUILTIN_PROFILE"
    await guest.refresh_from_db()
    assert "user.manage" not in guest.permissions


async def test_profile_in_use_cannot_be_deleted(gql, accounts) -> None:
    profile = await Profile.create(name="Busy", permissions=[], builtin=False)
    await accounts.make_user("busy", "Busy")
    result = await gql.execute(DELETE, {"id": gid(profile.id)}, token=accounts.token["ADMIN"])
    error = result["data"]["deleteProfile"]["userErrors"][0]
    assert error["code"] == "PROFILE_IN_USE"
    assert "1 user(s)" in error["message"]
    assert await Profile.filter(id=profile.id).exists()


async def test_delete_unused_profile(gql, accounts) -> None:
    profile = await Profile.create(name="Spare", permissions=["segment.read"], builtin=False)
    result = await gql.execute(DELETE, {"id": gid(profile.id)}, token=accounts.token["ADMIN"])
    assert result["data"]["deleteProfile"] == {"deletedId": gid(profile.id), "userErrors": []}
    assert not await Profile.filter(id=profile.id).exists()
    entry = await AuditEntry.get(object_type="profile", action="delete")
    assert entry.object_id == str(profile.id) and entry.before["name"] == "Spare"


async def test_profile_manager_cannot_create_more_powerful_profiles(gql, accounts) -> None:
    await Profile.create(name="ProfileAdmin", permissions=["profile.manage"], builtin=False)
    manager = await accounts.make_user("pa", "ProfileAdmin")
    result = await gql.execute(
        CREATE,
        {"input": {"name": "Sneaky", "permissions": ["USER_MANAGE"]}},
        token=accounts.token_for(manager),
    )
    assert codes(result) == ["FORBIDDEN"]
    assert not await Profile.filter(name="Sneaky").exists()


async def test_profiles_and_catalog_are_readable_by_everyone_logged_in(gql, accounts) -> None:
    result = await gql.execute(
        "{ profiles { totalCount edges { node { name builtin } } } permissionCatalog"
        " { permission description } }",
        token=accounts.token["GUEST"],
    )
    assert result["data"]["profiles"]["totalCount"] == 4
    assert [e["node"]["name"] for e in result["data"]["profiles"]["edges"]] == [
        "ADMIN",
        "GUEST",
        "POWERUSER",
        "USER",
    ]
    catalog = result["data"]["permissionCatalog"]
    assert {"permission": "AUDIT_READ", "description": "Read the audit log"} in catalog


async def test_unknown_profile_is_not_found(gql, accounts) -> None:
    result = await gql.execute(
        "query($id: ID!) { profile(id: $id) { name } }",
        {"id": gid(424242)},
        token=accounts.token["ADMIN"],
    )
    assert codes(result) == ["NOT_FOUND"]


async def test_concurrent_creates_of_one_name_give_one_profile(gql, accounts) -> None:
    results = await asyncio.gather(
        *[
            gql.execute(CREATE, {"input": {"name": "Twin"}}, token=accounts.token["ADMIN"])
            for _ in range(4)
        ]
    )
    payloads = [r["data"]["createProfile"] for r in results]
    assert all("errors" not in r for r in results), results
    assert sum(p["profile"] is not None for p in payloads) == 1
    assert sorted(e["code"] for p in payloads for e in p["userErrors"]) == ["DUPLICATE"] * 3
    assert await Profile.filter(name="Twin").count() == 1
