"""API keys: create (secret shown once), list, revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from models import ApiKey, Profile
from permissions.apikeys import generate_api_key
from permissions.audit import record_audit
from permissions.errors import InputError, InvalidInput, NotFound
from permissions.principal import Principal
from resolvers.context import RequestContext
from resolvers.grants import check_manageable, grantable_profile, visible_databases
from resolvers.outcome import with_outcome
from resolvers.paging import Page, SortKey, keyset_page

MAX_NAME = 200


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key and its secret, which is never shown again."""

    api_key: ApiKey
    secret: str


async def list_api_keys(
    include_revoked: bool, first: int | None, after: str | None, count_total: bool = True
) -> Page[ApiKey]:
    """A page of API keys, newest first."""
    query = ApiKey.all()
    if not include_revoked:
        query = query.filter(revoked_at__isnull=True)
    sort = [SortKey("created_at", descending=True)]
    return await keyset_page(query, sort, first=first, after=after, count_total=count_total)


async def api_keys_by_id(ids: list[int]) -> list[ApiKey | None]:
    """API keys by id, in the order asked (None for a missing one)."""
    rows = {k.id: k for k in await ApiKey.filter(id__in=ids)} if ids else {}
    return [rows.get(i) for i in ids]


async def get_api_key(key_id: int) -> ApiKey:
    """An API key by id, or NOT_FOUND."""
    key = await ApiKey.get_or_none(id=key_id)
    if key is None:
        raise NotFound("ApiKey", key_id)
    return key


def _snapshot(key: ApiKey, profile_name: str, database_ids: list[int]) -> dict:
    return {
        "name": key.name,
        "prefix": key.prefix,
        "profile": profile_name,
        "database_ids": sorted(database_ids),
        "revoked_at": key.revoked_at,
    }


@with_outcome
async def create_api_key(
    ctx: RequestContext, principal: Principal, name: str, profile: str, database_ids: list[int]
) -> CreatedApiKey:
    """A new key with a profile and database grants the caller itself holds."""
    name = name.strip()
    profile_row = await grantable_profile(principal, profile, ("profile",))
    databases = await visible_databases(principal, database_ids)
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(
            [InputError(("name",), f"Name must have 1-{MAX_NAME} characters.", "INVALID")]
        )
    new = generate_api_key()
    async with in_transaction():
        key = await ApiKey.create(
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
            profile=profile_row,
            created_by_id=principal.user_id,
        )
        if databases:
            await key.databases.add(*databases)
        await record_audit(
            principal,
            "create",
            "api_key",
            key.id,
            after=_snapshot(key, profile_row.name, [d.id for d in databases]),
            request_id=ctx.request_id,
        )
    return CreatedApiKey(key, new.secret)


@with_outcome
async def revoke_api_key(ctx: RequestContext, principal: Principal, key_id: int) -> ApiKey:
    """Revoke a key at once (idempotent)."""
    key = await get_api_key(key_id)
    profile = await Profile.get(id=key.profile_id)  # type: ignore[attr-defined]
    check_manageable(principal, profile, "API key")
    if key.revoked_at is not None:
        return key
    database_ids = list(await key.databases.all().values_list("id", flat=True))
    before = _snapshot(key, profile.name, database_ids)
    async with in_transaction():
        key.revoked_at = datetime.now(UTC)
        await key.save(update_fields=["revoked_at"])
        await record_audit(
            principal,
            "revoke",
            "api_key",
            key.id,
            before=before,
            after=_snapshot(key, profile.name, database_ids),
            request_id=ctx.request_id,
        )
    return key
