"""Who is calling: a user (bearer token) or a machine (API key), with grants preloaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from tortoise import connections

from models import Profile
from permissions.names import Perm


@dataclass(frozen=True)
class Principal:
    """The caller of one request. Immutable; built once per request."""

    kind: Literal["user", "api_key"]
    user_id: int  # the user, or the user who created the API key (authorship of new objects)
    api_key_id: int | None
    name: str  # readable actor name for the audit trail
    profile_name: str
    permissions: frozenset[Perm]
    database_ids: frozenset[int]  # explicit grants
    all_databases: bool  # sees every database (profiles holding database.manage)

    @property
    def is_user(self) -> bool:
        """True for a person logged in with a token, False for an API key."""
        return self.kind == "user"


def profile_permissions(profile: Profile) -> frozenset[Perm]:
    """A profile's permissions; names no longer in the catalog are ignored."""
    return _permissions(profile.permissions)


def _permissions(raw: Any) -> frozenset[Perm]:
    names = json.loads(raw) if isinstance(raw, str) else raw or []
    known = {p.value for p in Perm}
    return frozenset(Perm(name) for name in names if name in known)


_USER_SQL = """
SELECT u.username, u.is_active, u.token_version, p.name AS profile_name,
       p.permissions::text AS permissions,
       COALESCE(array_agg(g.contactdatabase_id) FILTER (WHERE g.contactdatabase_id IS NOT NULL),
                '{}') AS database_ids
  FROM app_user u
  JOIN profile p ON p.id = u.profile_id
  LEFT JOIN user_database_grant g ON g.app_user_id = u.id
 WHERE u.id = $1
 GROUP BY u.id, p.id
"""

_API_KEY_SQL = """
SELECT k.id, k.name, k.key_hash, k.revoked_at, k.last_used_at,
       c.id AS creator_id, c.username AS creator, c.is_active AS creator_active,
       p.name AS profile_name, p.permissions::text AS permissions,
       COALESCE(array_agg(g.contactdatabase_id) FILTER (WHERE g.contactdatabase_id IS NOT NULL),
                '{}') AS database_ids
  FROM api_key k
  JOIN profile p ON p.id = k.profile_id
  JOIN app_user c ON c.id = k.created_by_id
  LEFT JOIN api_key_database_grant g ON g.api_key_id = k.id
 WHERE k.prefix = $1
 GROUP BY k.id, p.id, c.id
"""


@dataclass(frozen=True)
class LoadedUser:
    """A user's principal with what authentication checks against the token."""

    principal: Principal
    is_active: bool
    token_version: int


@dataclass(frozen=True)
class LoadedApiKey:
    """An API key's principal with what authentication checks against the presented key."""

    principal: Principal
    key_hash: str
    revoked_at: datetime | None
    last_used_at: datetime | None
    creator_active: bool


async def load_user(user_id: int) -> LoadedUser | None:
    """A user's principal, profile and grants in one query (every request does this)."""
    rows = await connections.get("default").execute_query_dict(_USER_SQL, [user_id])
    if not rows:
        return None
    row = rows[0]
    perms = _permissions(row["permissions"])
    principal = Principal(
        kind="user",
        user_id=user_id,
        api_key_id=None,
        name=row["username"],
        profile_name=row["profile_name"],
        permissions=perms,
        database_ids=frozenset(row["database_ids"]),
        all_databases=Perm.DATABASE_MANAGE in perms,
    )
    return LoadedUser(principal, row["is_active"], row["token_version"])


async def load_api_key(prefix: str) -> LoadedApiKey | None:
    """An API key's principal, profile, grants and creator in one query."""
    rows = await connections.get("default").execute_query_dict(_API_KEY_SQL, [prefix])
    if not rows:
        return None
    row = rows[0]
    perms = _permissions(row["permissions"])
    principal = Principal(
        kind="api_key",
        user_id=row["creator_id"],
        api_key_id=row["id"],
        name=f"apikey:{row['name']} ({row['creator']})",
        profile_name=row["profile_name"],
        permissions=perms,
        database_ids=frozenset(row["database_ids"]),
        all_databases=Perm.DATABASE_MANAGE in perms,
    )
    return LoadedApiKey(
        principal, row["key_hash"], row["revoked_at"], row["last_used_at"], row["creator_active"]
    )
