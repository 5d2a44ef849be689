"""Who is calling: a user (bearer token) or a machine (API key), with grants preloaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models import ApiKey, Profile, User
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
    known = {p.value for p in Perm}
    return frozenset(Perm(name) for name in profile.permissions or [] if name in known)


async def _database_ids(rows) -> frozenset[int]:
    return frozenset(await rows.all().values_list("id", flat=True))


async def principal_for_user(user: User) -> Principal:
    """The principal of a logged-in user."""
    profile = await Profile.get(id=user.profile_id)  # type: ignore[attr-defined]
    perms = profile_permissions(profile)
    return Principal(
        kind="user",
        user_id=user.id,
        api_key_id=None,
        name=user.username,
        profile_name=profile.name,
        permissions=perms,
        database_ids=await _database_ids(user.databases),
        all_databases=Perm.DATABASE_MANAGE in perms,
    )


async def principal_for_api_key(key: ApiKey, creator: User) -> Principal:
    """The principal of a machine calling with an API key; it writes as its creator."""
    profile = await Profile.get(id=key.profile_id)  # type: ignore[attr-defined]
    perms = profile_permissions(profile)
    return Principal(
        kind="api_key",
        user_id=creator.id,
        api_key_id=key.id,
        name=f"apikey:{key.name} ({creator.username})",
        profile_name=profile.name,
        permissions=perms,
        database_ids=await _database_ids(key.databases),
        all_databases=Perm.DATABASE_MANAGE in perms,
    )
