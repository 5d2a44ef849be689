"""User administration: list, create, update, deactivate, set password, grant databases."""

from __future__ import annotations

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import Profile, User
from permissions import auth, bootstrap
from permissions.audit import record_audit
from permissions.errors import InputError, InvalidInput, NotFound
from permissions.passwords import hash_password, password_problems, username_problems
from permissions.principal import Principal
from resolvers.context import RequestContext
from resolvers.grants import (
    MAX_PROFILE_NAME,
    check_grantable,
    check_manageable,
    grantable_profile,
    profile_named,
    visible_databases,
)
from resolvers.outcome import with_outcome
from resolvers.paging import Page, SortKey, keyset_page

MAX_USERNAME = User._meta.fields_map["username"].max_length


async def list_users(
    search: str | None,
    include_inactive: bool,
    first: int | None,
    after: str | None,
    count_total: bool = True,
) -> Page[User]:
    """A page of users by username, optionally filtered by a search on name or e-mail."""
    query = User.all()
    if not include_inactive:
        query = query.filter(is_active=True)
    if search:
        query = query.filter(
            Q(username__icontains=search)
            | Q(display_name__icontains=search)
            | Q(email__icontains=search)
        )
    return await keyset_page(
        query, [SortKey("username")], first=first, after=after, count_total=count_total
    )


async def get_user(user_id: int) -> User:
    """A user by id, or NOT_FOUND."""
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("User", user_id)
    return user


async def _snapshot(user: User) -> dict:
    profile = await Profile.get(id=user.profile_id)  # type: ignore[attr-defined]
    database_ids = list(await user.databases.all().values_list("id", flat=True))
    return bootstrap.user_snapshot(user, profile.name, database_ids)


@with_outcome
async def create_user(
    ctx: RequestContext,
    principal: Principal,
    *,
    username: str,
    password: str,
    profile: str,
    database_ids: list[int],
    display_name: str,
    email: str | None,
) -> User:
    """Create a user; the caller may grant only its own permissions and visible databases."""
    _refuse_oversized(username, password, profile, display_name, email)
    profile_row = await profile_named(profile)
    if profile_row is not None:  # an unknown name is reported by create_user with the rest
        check_grantable(principal, profile_row)
    databases = await visible_databases(principal, database_ids)
    return await bootstrap.create_user(
        username,
        password,
        profile=profile,
        database_ids=[d.id for d in databases],
        display_name=display_name,
        email=email or None,
        principal=principal,
        request_id=ctx.request_id,
    )


def _refuse_oversized(
    username: str, password: str, profile: str, display_name: str, email: str | None
) -> None:
    """Names longer than their columns cannot be looked up: report them (and the other
    mistakes) before anything asks the database."""
    errors = []
    if len(username.strip()) > MAX_USERNAME:
        errors += username_problems(username.strip())
    if len(profile) > MAX_PROFILE_NAME:
        errors.append(InputError(("profile",), "Unknown profile.", "NOT_FOUND"))
    if errors:
        errors += password_problems(password) + bootstrap.details_problems(display_name, email)
        raise InvalidInput(errors)


async def _manageable_user(principal: Principal, user_id: int) -> User:
    user = await get_user(user_id)
    check_manageable(principal, await Profile.get(id=user.profile_id), "user")  # type: ignore[attr-defined]
    return user


@with_outcome
async def update_user(
    ctx: RequestContext,
    principal: Principal,
    user_id: int,
    *,
    display_name: str | None = None,
    email: str | None = None,
    profile: str | None = None,
    is_active: bool | None = None,
) -> User:
    """Change a user's details, profile or active flag (deactivation ends its sessions)."""
    user = await _manageable_user(principal, user_id)
    new_profile = await grantable_profile(principal, profile, ("profile",)) if profile else None
    errors = bootstrap.details_problems(display_name, email)
    if user.id == principal.user_id and principal.is_user:
        if is_active is False:
            errors.append(InputError(("isActive",), "You cannot deactivate yourself.", "SELF"))
        if new_profile is not None and new_profile.id != user.profile_id:  # type: ignore[attr-defined]
            errors.append(InputError(("profile",), "You cannot change your own profile.", "SELF"))
    if errors:
        raise InvalidInput(errors)
    before = await _snapshot(user)
    changes: dict[str, object] = {}
    if display_name is not None:
        changes["display_name"] = display_name
    if email is not None:
        changes["email"] = email or None
    if new_profile is not None:
        changes["profile_id"] = new_profile.id
    if is_active is not None:
        changes["is_active"] = is_active
    async with in_transaction():
        # only the changed columns: a full save would overwrite a concurrent token_version bump
        for name, value in changes.items():
            setattr(user, name, value)
        if changes:
            await user.save(update_fields=[*changes, "updated_at"])
        if is_active is False or new_profile is not None:
            await auth.invalidate_tokens(user.id)
        after = await _snapshot(user)
        if after != before:
            action = "deactivate" if before["is_active"] and not user.is_active else "update"
            await record_audit(
                principal,
                action,
                "user",
                user.id,
                before=before,
                after=after,
                request_id=ctx.request_id,
            )
    return user


@with_outcome
async def set_user_password(
    ctx: RequestContext, principal: Principal, user_id: int, password: str
) -> User:
    """Set another user's password; that user's tokens stop working."""
    user = await _manageable_user(principal, user_id)
    problems = password_problems(password)
    if problems:
        raise InvalidInput(problems)
    new_hash = await hash_password(password)
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
    return user


@with_outcome
async def change_grants(
    ctx: RequestContext,
    principal: Principal,
    user_id: object,
    database_ids: list[int],
    *,
    grant: bool,
) -> User:
    """Grant (or revoke) access to databases the caller itself sees."""
    user = await _manageable_user(principal, user_id)
    databases = await visible_databases(principal, database_ids)
    if not databases:
        raise InvalidInput(
            [InputError(("databaseIds",), "Give at least one database.", "REQUIRED")]
        )
    before = await _snapshot(user)
    async with in_transaction():
        if grant:
            await user.databases.add(*databases)
        else:
            await user.databases.remove(*databases)
        after = await _snapshot(user)
        if after != before:
            await record_audit(
                principal,
                "grant" if grant else "revoke",
                "user",
                user.id,
                before={"database_ids": before["database_ids"]},
                after={"database_ids": after["database_ids"]},
                request_id=ctx.request_id,
            )
    return user
