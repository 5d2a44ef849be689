"""Logging in and out, changing one's own password, and who the caller is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from models import ApiKey, ContactDatabase, Profile, User
from permissions import auth
from permissions.audit import record_audit
from permissions.errors import InputError, InvalidInput
from permissions.passwords import hash_password, password_problems, verify_password
from permissions.principal import Principal
from permissions.rules import database_q
from permissions.throttle import record_failure
from permissions.tokens import issue_token
from resolvers.context import RequestContext
from resolvers.outcome import with_outcome


@dataclass(frozen=True)
class Viewer:
    """The caller as `me` shows it."""

    principal: Principal
    profile: Profile
    user: User | None
    api_key: ApiKey | None
    databases: list[ContactDatabase]


@dataclass(frozen=True)
class IssuedToken:
    """A bearer token and when it expires."""

    token: str
    expires_at: datetime


MAX_USERNAME = User._meta.fields_map["username"].max_length


async def login(ctx: RequestContext, username: str, password: str) -> auth.LoginResult:
    """Check credentials and issue a token (see permissions.auth.login)."""
    if len(username.strip()) > MAX_USERNAME:  # no user can have it: refused like a wrong one
        return auth.LoginResult(
            error=InputError((), auth.INVALID_CREDENTIALS, "INVALID_CREDENTIALS")
        )
    return await auth.login(ctx.settings, username, password, request_id=ctx.request_id)


@with_outcome
async def logout(ctx: RequestContext, principal: Principal) -> bool:
    """Invalidate every token of the calling user."""
    if not principal.is_user:
        raise InvalidInput(
            [InputError((), "API keys cannot log out; revoke the key.", "NOT_A_USER")]
        )
    async with in_transaction():
        await auth.invalidate_tokens(principal.user_id)
        await record_audit(
            principal, "logout", "user", principal.user_id, request_id=ctx.request_id
        )
    return True


@with_outcome
async def change_password(
    ctx: RequestContext, principal: Principal, current_password: str, new_password: str
) -> IssuedToken:
    """Change the caller's own password; old tokens stop working, a new one is returned."""
    if not principal.is_user:
        raise InvalidInput([InputError((), "API keys have no password.", "NOT_A_USER")])
    user = await User.get(id=principal.user_id)
    if not await verify_password(user.password_hash, current_password):
        await record_failure(
            user.username,
            max_failures=ctx.settings.login_max_failures,
            lock_seconds=ctx.settings.login_lock_seconds,
        )
        raise InvalidInput(
            [InputError(("currentPassword",), "Current password is wrong.", "INVALID_PASSWORD")]
        )
    problems = password_problems(new_password, ("newPassword",))
    if problems:
        raise InvalidInput(problems)
    new_hash = await hash_password(new_password)
    async with in_transaction():
        user.password_hash = new_hash
        await user.save(update_fields=["password_hash"])
        await auth.invalidate_tokens(user.id)
        await record_audit(
            principal,
            "set_password",
            "user",
            user.id,
            after={"password_changed": True},
            request_id=ctx.request_id,
        )
    await user.refresh_from_db(fields=["token_version"])
    token, expires = issue_token(
        ctx.settings.secret_key, user.id, user.token_version, ctx.settings.token_ttl_seconds
    )
    return IssuedToken(token, datetime.fromtimestamp(expires, UTC))


async def viewer(ctx: RequestContext, principal: Principal) -> Viewer:
    """The caller's user or key, profile and visible databases."""
    user = await User.get(id=principal.user_id) if principal.is_user else None
    api_key = await ApiKey.get(id=principal.api_key_id) if principal.api_key_id else None
    profile = await Profile.get(name=principal.profile_name)
    databases = await ContactDatabase.filter(database_q(principal, "id")).order_by("name")
    return Viewer(principal, profile, user, api_key, list(databases))
