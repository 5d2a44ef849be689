"""Built-in profiles, create_user and the first admin."""

from __future__ import annotations

import pytest

from models import AuditEntry, ContactDatabase, Profile, User
from permissions.bootstrap import create_user, ensure_admin, ensure_builtin_profiles
from permissions.errors import InvalidInput
from permissions.names import BUILTIN_PROFILES
from permissions.passwords import verify_password


async def test_builtin_profiles_are_created_once(db) -> None:
    await ensure_builtin_profiles()
    await ensure_builtin_profiles()
    rows = {p.name: p for p in await Profile.all()}
    assert set(rows) == set(BUILTIN_PROFILES)
    for name, perms in BUILTIN_PROFILES.items():
        assert rows[name].builtin
        assert sorted(rows[name].permissions) == sorted(p.value for p in perms)
    assert await AuditEntry.filter(object_type="profile", action="create").count() == 4


async def test_builtin_profiles_are_restored_when_changed(db) -> None:
    await ensure_builtin_profiles()
    await Profile.filter(name="GUEST").update(permissions=["user.manage"], builtin=False)
    await ensure_builtin_profiles()
    guest = await Profile.get(name="GUEST")
    assert guest.builtin
    assert "user.manage" not in guest.permissions
    entry = await AuditEntry.get(object_type="profile", action="update")
    assert entry.before["permissions"] == ["user.manage"]


async def test_create_user_with_grants(db) -> None:
    await ensure_builtin_profiles()
    main = await ContactDatabase.create(name="Main")
    user = await create_user(
        "ops", "a-long-password", profile="POWERUSER", database_ids=[main.id], display_name="Ops"
    )
    assert user.display_name == "Ops"
    assert await verify_password(user.password_hash, "a-long-password")
    assert [d.id for d in await user.databases.all()] == [main.id]
    assert (await Profile.get(id=user.profile_id)).name == "POWERUSER"
    entry = await AuditEntry.get(object_type="user")
    assert entry.actor == "system" and entry.after["database_ids"] == [main.id]


async def test_create_user_rejects_bad_input_and_writes_nothing(db) -> None:
    await ensure_builtin_profiles()
    with pytest.raises(InvalidInput) as excinfo:
        await create_user("bad name", "short", profile="BOSS", database_ids=[424242])
    codes = sorted(e.code for e in excinfo.value.errors)
    assert codes == ["INVALID_USERNAME", "NOT_FOUND", "NOT_FOUND", "PASSWORD_TOO_SHORT"]
    assert await User.all().count() == 0


async def test_ensure_admin_creates_admin_once(db) -> None:
    credentials = await ensure_admin()
    assert credentials is not None
    username, password = credentials
    assert username == "admin" and len(password) >= 20
    admin = await User.get(username="admin")
    assert (await Profile.get(id=admin.profile_id)).name == "ADMIN"
    assert await verify_password(admin.password_hash, password)
    assert await ensure_admin() is None
    assert await User.all().count() == 1
