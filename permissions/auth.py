"""Authentication: bearer tokens and API keys in, a Principal out; login and logout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tortoise import connections

from models import User
from permissions.apikeys import KEY_PREFIX, key_matches, split_api_key
from permissions.audit import record_audit
from permissions.errors import Forbidden, InputError, Unauthenticated
from permissions.names import Perm
from permissions.passwords import hash_password, needs_rehash, verify_password
from permissions.principal import Principal, load_api_key, load_user
from permissions.rules import may
from permissions.throttle import clear_failures, is_locked, record_failure
from permissions.tokens import TokenError, issue_token, read_token

if TYPE_CHECKING:
    from contactplan.settings import Settings

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = "Invalid username or password."
TOO_MANY_ATTEMPTS = "Too many failed logins for this username. Try again later."
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one last_used_at write per key a minute


def bearer_credential(authorization: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <credential>` header, if any."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <token or API key>'.")
    return credential.strip()


async def authenticate(settings: Settings, authorization: str | None) -> Principal | None:
    """The principal of a request; None without credentials; Unauthenticated if they are bad."""
    credential = bearer_credential(authorization)
    if credential is None:
        return None
    if credential.startswith(KEY_PREFIX):
        return await _authenticate_api_key(credential)
    try:
        claims = read_token(settings.secret_key, credential)
    except TokenError as exc:
        raise Unauthenticated(str(exc)) from exc
    loaded = await load_user(claims.user_id)
    if loaded is None or not loaded.is_active or loaded.token_version != claims.token_version:
        raise Unauthenticated("Token is no longer valid; log in again.")
    return loaded.principal


async def reauthenticate(settings: Settings, authorization: str | None, perm: Perm) -> Principal:
    """The principal of credentials accepted earlier, checked again for a long-lived
    operation (a subscription): UNAUTHENTICATED once the token expired or was revoked, the
    user deactivated or the key revoked; FORBIDDEN once the profile lost `perm`."""
    principal = await authenticate(settings, authorization)
    if principal is None:
        raise Unauthenticated()
    if not may(principal, perm):
        raise Forbidden()
    return principal


async def _authenticate_api_key(key: str) -> Principal:
    parts = split_api_key(key)
    loaded = await load_api_key(parts[0]) if parts else None
    if loaded is None or parts is None or not key_matches(parts[1], loaded.key_hash):
        raise Unauthenticated("Invalid API key.")
    if loaded.revoked_at is not None:
        raise Unauthenticated("API key revoked.")
    if not loaded.creator_active:
        raise Unauthenticated("API key's creator is deactivated.")
    now = datetime.now(UTC)
    if loaded.last_used_at is None or loaded.last_used_at < now - LAST_USED_RESOLUTION:
        await connections.get("default").execute_query(
            "UPDATE api_key SET last_used_at = now() WHERE id = $1", [loaded.principal.api_key_id]
        )
    return loaded.principal


@dataclass(frozen=True)
class LoginResult:
    """A token on success, else the error to show (the same whether the user exists or not)."""

    token: str | None = None
    expires_at: datetime | None = None
    user: User | None = None
    error: InputError | None = None


async def login(
    settings: Settings, username: str, password: str, *, request_id: str | None = None
) -> LoginResult:
    """Check a username and password; throttled per username, existing or not."""
    username = username.strip()
    if await is_locked(username):
        log.warning("login refused (throttled) username=%r request=%s", username, request_id)
        return LoginResult(error=InputError((), TOO_MANY_ATTEMPTS, "TOO_MANY_ATTEMPTS"))
    user = await User.get_or_none(username=username)
    usable = user is not None and user.is_active
    ok = await verify_password(user.password_hash if usable else None, password)
    if not ok or user is None:
        locked = await record_failure(
            username,
            max_failures=settings.login_max_failures,
            lock_seconds=settings.login_lock_seconds,
        )
        log.warning("login failed username=%r locked=%s request=%s", username, locked, request_id)
        return LoginResult(error=InputError((), INVALID_CREDENTIALS, "INVALID_CREDENTIALS"))
    await clear_failures(username)
    user.last_login_at = datetime.now(UTC)
    update_fields = ["last_login_at"]
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        update_fields.append("password_hash")
    await user.save(update_fields=update_fields)
    token, expires = issue_token(
        settings.secret_key, user.id, user.token_version, settings.token_ttl_seconds
    )
    loaded = await load_user(user.id)
    principal = loaded.principal if loaded else None
    await record_audit(
        principal, "login", "user", user.id, request_id=request_id, actor=user.username
    )
    return LoginResult(token=token, expires_at=datetime.fromtimestamp(expires, UTC), user=user)


async def invalidate_tokens(user_id: int) -> None:
    """Bump the user's token version: every token issued before stops working."""
    await connections.get("default").execute_query(
        "UPDATE app_user SET token_version = token_version + 1, updated_at = now() WHERE id = $1",
        [user_id],
    )
