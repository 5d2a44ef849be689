"""Signed, expiring bearer tokens for logged-in users.

A token carries the user id and the user's `token_version`; bumping the version
(logout, password change, deactivation) invalidates every token issued before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "contactplan.bearer-token"
TOKEN_PREFIX = "cpt_"  # noqa: S105 - a public marker, not a secret


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says."""

    user_id: int
    token_version: int
    expires_at: float  # unix time


class TokenError(Exception):
    """A token that is malformed, forged or expired (the message says which)."""


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_SALT)


def issue_token(
    secret_key: str, user_id: int, token_version: int, ttl_seconds: int, *, now: float | None = None
) -> tuple[str, float]:
    """A new token and its expiry time (unix seconds)."""
    expires_at = (time.time() if now is None else now) + ttl_seconds
    body = _serializer(secret_key).dumps({"u": user_id, "v": token_version, "e": expires_at})
    return TOKEN_PREFIX + body, expires_at


def read_token(secret_key: str, token: str, *, now: float | None = None) -> TokenClaims:
    """The claims of a valid token; raises TokenError otherwise."""
    if not token.startswith(TOKEN_PREFIX):
        raise TokenError("Malformed token.")
    try:
        data = _serializer(secret_key).loads(token[len(TOKEN_PREFIX) :])
    except BadSignature as exc:
        raise TokenError("Invalid token.") from exc
    try:
        claims = TokenClaims(int(data["u"]), int(data["v"]), float(data["e"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError("Invalid token.") from exc
    if (time.time() if now is None else now) >= claims.expires_at:
        raise TokenError("Token expired.")
    return claims
