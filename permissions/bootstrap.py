"""Setting up accounts: built-in profiles, users, and the first admin."""

from __future__ import annotations

import json
import logging
import secrets

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import ContactDatabase, Profile, User
from permissions.audit import record_audit
from permissions.errors import InputError, InvalidInput
from permissions.names import BUILTIN_DESCRIPTIONS, BUILTIN_PROFILES
from permissions.passwords import hash_password, password_problems, username_problems
from permissions.principal import Principal

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
MAX_DISPLAY_NAME = 200
MAX_EMAIL = 320


def details_problems(display_name: str | None, email: str | None) -> list[InputError]:
    """What is wrong with a user's display name or e-mail, if anything."""
    errors = []
    if display_name is not None and len(display_name) > MAX_DISPLAY_NAME:
        errors.append(
            InputError(("displayName",), f"At most {MAX_DISPLAY_NAME} characters.", "TOO_LONG")
        )
    if email and (len(email) > MAX_EMAIL or "@" not in email):
        errors.append(InputError(("email",), "Not an e-mail address.", "INVALID_EMAIL"))
    return errors


def _sorted_names(perms) -> list[str]:
    return sorted(str(p) for p in perms)


async def ensure_builtin_profiles() -> None:
    """Create or update ADMIN, POWERUSER, USER and GUEST from permissions.names (idempotent)."""
    conn = connections.get("default")
    for name, perms in BUILTIN_PROFILES.items():
        wanted = _sorted_names(perms)
        description = BUILTIN_DESCRIPTIONS[name]
        rows = await conn.execute_query_dict(
            """
            INSERT INTO profile (name, description, permissions, builtin, created_at, updated_at)
            VALUES ($1, $2, $3::jsonb, TRUE, now(), now())
            ON CONFLICT (name) DO NOTHING
            RETURNING id
            """,
            [name, description, json.dumps(wanted)],
        )
        if rows:
            await record_audit(
                None,
                "create",
                "profile",
                rows[0]["id"],
                after={"name": name, "permissions": wanted},
            )
            continue
        profile = await Profile.get(name=name)
        current = sorted(profile.permissions or [])
        if current != wanted or profile.description != description or not profile.builtin:
            before = {"permissions": current, "description": profile.description}
            profile.permissions, profile.description, profile.builtin = wanted, description, True
            await profile.save()
            after = {"permissions": wanted, "description": description}
            await record_audit(None, "update", "profile", profile.id, before=before, after=after)


async def create_user(
    username: str,
    password: str,
    *,
    profile: str = "USER",
    database_ids: list[int] | None = None,
    display_name: str = "",
    email: str | None = None,
    principal: Principal | None = None,
    request_id: str | None = None,
) -> User:
    """Create a user with a profile (by name) and database grants; audited.

    Raises InvalidInput naming every problem (bad username or password, unknown
    profile or database, username taken); nothing is written then.
    """
    username = username.strip()
    errors = username_problems(username) + password_problems(password)
    errors += details_problems(display_name, email)
    profile_row = await Profile.get_or_none(name=profile)
    if profile_row is None:
        errors.append(InputError(("profile",), f"Unknown profile {profile!r}.", "NOT_FOUND"))
    wanted_dbs = sorted(set(database_ids or []))
    databases = await ContactDatabase.filter(id__in=wanted_dbs) if wanted_dbs else []
    missing = sorted(set(wanted_dbs) - {d.id for d in databases})
    if missing:
        errors.append(
            InputError(("databaseIds",), f"Unknown database ids: {missing}.", "NOT_FOUND")
        )
    if await User.filter(username=username).exists():
        errors.append(InputError(("username",), "This username is taken.", "DUPLICATE"))
    if errors:
        raise InvalidInput(errors)
    password_hash = await hash_password(password)
    try:
        async with in_transaction():
            user = await User.create(
                username=username,
                password_hash=password_hash,
                profile=profile_row,
                display_name=display_name,
                email=email,
            )
            if databases:
                await user.databases.add(*databases)
            await record_audit(
                principal,
                "create",
                "user",
                user.id,
                after=user_snapshot(user, profile, wanted_dbs),
                request_id=request_id,
            )
    except IntegrityError as exc:  # a concurrent create with the same username
        raise InvalidInput(
            [InputError(("username",), "This username is taken.", "DUPLICATE")]
        ) from exc
    return user


def user_snapshot(user: User, profile_name: str, database_ids: list[int]) -> dict:
    """What the audit trail records about a user (never the password hash)."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "profile": profile_name,
        "is_active": user.is_active,
        "database_ids": sorted(database_ids),
    }


async def ensure_admin() -> tuple[str, str] | None:
    """If no user exists, create `admin` (ADMIN profile) with a random strong password.

    Returns (username, password) to print once, or None when users already exist.
    """
    await ensure_builtin_profiles()
    if await User.all().exists():
        return None
    password = secrets.token_urlsafe(18)
    try:
        await create_user(ADMIN_USERNAME, password, profile="ADMIN", display_name="Administrator")
    except InvalidInput:  # another process created it first
        log.info("admin user already created by another process")
        return None
    return ADMIN_USERNAME, password
