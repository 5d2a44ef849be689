"""Checks shared by everything that hands out a profile or database grants."""

from __future__ import annotations

from models import ContactDatabase, Profile
from permissions.errors import Forbidden, InputError, InvalidInput, NotFound
from permissions.principal import Principal, profile_permissions
from permissions.rules import can_grant_permissions, can_see_database

MAX_PROFILE_NAME = Profile._meta.fields_map["name"].max_length


async def grantable_profile(principal: Principal, name: str, path: tuple[str, ...]) -> Profile:
    """The profile called `name`, if the principal may hand it out.

    Unknown name: InvalidInput. A profile with permissions the principal lacks: Forbidden.
    """
    profile = await profile_named(name)
    if profile is None:
        raise InvalidInput([InputError(path, f"Unknown profile {name!r}.", "NOT_FOUND")])
    check_grantable(principal, profile)
    return profile


async def profile_named(name: str) -> Profile | None:
    """The profile called `name`, or None (also for a name longer than any profile's)."""
    if len(name) > MAX_PROFILE_NAME:
        return None
    return await Profile.get_or_none(name=name)


def check_grantable(principal: Principal, profile: Profile) -> None:
    """Forbidden to hand out a profile with permissions the principal lacks."""
    if not can_grant_permissions(principal, profile_permissions(profile)):
        raise Forbidden(
            f"You cannot grant profile {profile.name!r}: it holds permissions you lack."
        )


async def visible_databases(principal: Principal, ids: list[int]) -> list[ContactDatabase]:
    """The databases with these ids; NOT_FOUND for any that is missing or not visible."""
    wanted = sorted(set(ids))
    for database_id in wanted:
        if not can_see_database(principal, database_id):
            raise NotFound("Database", database_id)
    found = await ContactDatabase.filter(id__in=wanted) if wanted else []
    missing = sorted(set(wanted) - {d.id for d in found})
    if missing:
        raise NotFound("Database", missing[0])
    return list(found)


def check_manageable(principal: Principal, profile: Profile, what: str) -> None:
    """Forbidden to change a user or key more powerful than the principal."""
    if not can_grant_permissions(principal, profile_permissions(profile)):
        raise Forbidden(f"You cannot change this {what}: it holds permissions you lack.")
