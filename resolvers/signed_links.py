"""Short-lived signed URLs for downloads and chart pictures.

A link carries what to serve, who asked (principal kind and id, the user's token version)
and when it expires, signed with `settings.secret_key`. The route that serves it loads that
principal again (still active, key not revoked, tokens not invalidated) and checks its
permissions anew: a link never grants more than its principal has at the time of use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeSerializer
from tortoise import connections

from permissions.principal import Principal, load_api_key, load_user
from resolvers.context import RequestContext

SALT = "contactplan.download-link"
DEFAULT_TTL_SECONDS = 600


class LinkError(Exception):
    """A link that is malformed, badly signed, expired, or whose principal is no longer valid."""


@dataclass(frozen=True)
class Link:
    """What a verified link asks for."""

    purpose: str  # "reports" | "panel"
    data: dict[str, Any]
    principal: Principal


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


async def token_versions(user_ids: list[int]) -> list[int | None]:
    """The users' token versions (a batch function for a per-request DataLoader)."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT id, token_version FROM app_user WHERE id = ANY($1::int[])", [user_ids]
    )
    found = {row["id"]: row["token_version"] for row in rows}
    return [found.get(i) for i in user_ids]


async def link_version(ctx: RequestContext, principal: Principal) -> int | None:
    """What a link records of its principal's tokens: a user's token version, batched per
    request (a dashboard signs one link per panel); None for an API key."""
    if not principal.is_user:
        return None
    return await ctx.loader("link_token_version", token_versions).load(principal.user_id)


async def sign_link(
    secret_key: str,
    principal: Principal,
    purpose: str,
    data: dict[str, Any],
    *,
    version: int | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """A signed token for `purpose` with `data`, for `principal`, valid `ttl_seconds`.

    `version`: the user's token version (`link_version`); read here when not given.
    """
    if version is None and principal.is_user:
        (version,) = await token_versions([principal.user_id])
    payload = {
        "p": purpose,
        "d": data,
        "k": principal.kind,
        "i": principal.user_id if principal.is_user else principal.api_key_id,
        "v": version,
        "e": int((now or time.time()) + ttl_seconds),
    }
    return _serializer(secret_key).dumps(payload)


def link_url(base_url: str, path: str, token: str) -> str:
    """The absolute URL of a route with the token as its `token` query parameter."""
    return f"{base_url.rstrip('/')}{path}?{urlencode({'token': token})}"


async def verify_link(
    secret_key: str, token: str | None, purpose: str, *, now: float | None = None
) -> Link:
    """The link in `token` with its principal loaded again; LinkError if it is not valid."""
    if not token:
        raise LinkError("missing token")
    try:
        payload = _serializer(secret_key).loads(token)
    except BadSignature as exc:
        raise LinkError("bad signature") from exc
    if not isinstance(payload, dict) or payload.get("p") != purpose:
        raise LinkError("not a link for this route")
    if not isinstance(payload.get("e"), int) or payload["e"] < (now or time.time()):
        raise LinkError("link expired")
    principal = await _principal(payload.get("k"), payload.get("i"), payload.get("v"))
    if principal is None:
        raise LinkError("the link's user or API key is no longer valid")
    return Link(purpose, payload.get("d") or {}, principal)


async def _principal(kind: Any, ident: Any, version: Any) -> Principal | None:
    if not isinstance(ident, int):
        return None
    if kind == "user":
        user = await load_user(ident)
        if user is None or not user.is_active or user.token_version != version:
            return None
        return user.principal
    if kind == "api_key":
        rows = await connections.get("default").execute_query_dict(
            "SELECT prefix FROM api_key WHERE id = $1", [ident]
        )
        key = await load_api_key(rows[0]["prefix"]) if rows else None
        if key is None or key.revoked_at is not None or not key.creator_active:
            return None
        return key.principal
    return None
