"""Profile administration: custom profiles are created, edited and deleted; built-ins are fixed."""

from __future__ import annotations

import re

from models import ApiKey, Profile, User
from permissions.audit import record_audit
from permissions.errors import Forbidden, InputError, InvalidInput, NotFound
from permissions.names import BUILTIN_PROFILES, Perm
from permissions.principal import Principal, profile_permissions
from permissions.rules import can_grant_permissions
from resolvers.context import RequestContext
from resolvers.outcome import transaction, with_outcome
from resolvers.paging import Page, SortKey, keyset_page

NAME_TAKEN = InputError(("name",), "A profile with this name exists.", "DUPLICATE")
PROFILE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_ .-]{0,63}$")


async def list_profiles(
    first: int | None, after: str | None, count_total: bool = True
) -> Page[Profile]:
    """A page of profiles, built-ins first, then by name."""
    sort = [SortKey("builtin", descending=True), SortKey("name")]
    return await keyset_page(Profile.all(), sort, first=first, after=after, count_total=count_total)


async def get_profile(profile_id: int) -> Profile:
    """A profile by id, or NOT_FOUND."""
    profile = await Profile.get_or_none(id=profile_id)
    if profile is None:
        raise NotFound("Profile", profile_id)
    return profile


def _snapshot(profile: Profile) -> dict:
    return {
        "name": profile.name,
        "description": profile.description,
        "permissions": sorted(profile.permissions or []),
    }


async def _name_problems(name: str, own_id: int | None = None) -> list[InputError]:
    if not PROFILE_NAME_RE.match(name):
        return [
            InputError(
                ("name",),
                "Name must start with a letter; 1-64 letters, digits, space, _ . -",
                "INVALID_NAME",
            )
        ]
    if name.upper() in BUILTIN_PROFILES:
        return [InputError(("name",), "This name is reserved for a built-in profile.", "RESERVED")]
    clash = await Profile.filter(name__iexact=name).exclude(id=own_id or 0).exists()
    if clash:
        return [NAME_TAKEN]
    return []


def _check_grantable(principal: Principal, permissions: frozenset[Perm]) -> None:
    if not can_grant_permissions(principal, permissions):
        raise Forbidden("A profile may hold only permissions you hold yourself.")


@with_outcome
async def create_profile(
    ctx: RequestContext, principal: Principal, name: str, description: str, permissions: list[Perm]
) -> Profile:
    """Create a custom profile from catalog permissions."""
    name = name.strip()
    perms = frozenset(permissions)
    _check_grantable(principal, perms)
    errors = await _name_problems(name)
    if errors:
        raise InvalidInput(errors)
    async with transaction(on_conflict=NAME_TAKEN):
        profile = await Profile.create(
            name=name, description=description, permissions=sorted(perms), builtin=False
        )
        await record_audit(
            principal,
            "create",
            "profile",
            profile.id,
            after=_snapshot(profile),
            request_id=ctx.request_id,
        )
    return profile


def _editable(profile: Profile) -> None:
    if profile.builtin:
        raise InvalidInput(
            [InputError((), "Built-in profiles cannot be changed or deleted.", "BUILTIN_PROFILE")]
        )


@with_outcome
async def update_profile(
    ctx: RequestContext,
    principal: Principal,
    profile_id: int,
    *,
    name: str | None,
    description: str | None,
    permissions: list[Perm] | None,
) -> Profile:
    """Rename, describe or change the permissions of a custom profile (takes effect at once)."""
    profile = await get_profile(profile_id)
    _check_grantable(principal, profile_permissions(profile))
    _editable(profile)
    if permissions is not None:
        _check_grantable(principal, frozenset(permissions))
    if name is not None:
        name = name.strip()
        errors = await _name_problems(name, profile.id)
        if errors:
            raise InvalidInput(errors)
    before = _snapshot(profile)
    async with transaction(on_conflict=NAME_TAKEN):
        if name is not None:
            profile.name = name
        if description is not None:
            profile.description = description
        if permissions is not None:
            profile.permissions = sorted(frozenset(permissions))
        await profile.save()
        after = _snapshot(profile)
        if after != before:
            await record_audit(
                principal,
                "update",
                "profile",
                profile.id,
                before=before,
                after=after,
                request_id=ctx.request_id,
            )
    return profile


@with_outcome
async def delete_profile(ctx: RequestContext, principal: Principal, profile_id: int) -> int:
    """Delete a custom profile nobody uses."""
    profile = await get_profile(profile_id)
    _check_grantable(principal, profile_permissions(profile))
    _editable(profile)
    users = await User.filter(profile_id=profile.id).count()
    keys = await ApiKey.filter(profile_id=profile.id).count()
    in_use = InputError(
        (), f"Profile is in use by {users} user(s) and {keys} API key(s).", "PROFILE_IN_USE"
    )
    if users or keys:
        raise InvalidInput([in_use])
    async with transaction(on_conflict=in_use):
        before = _snapshot(profile)
        deleted_id = profile.id
        await profile.delete()
        await record_audit(
            principal, "delete", "profile", deleted_id, before=before, request_id=ctx.request_id
        )
    return deleted_id
