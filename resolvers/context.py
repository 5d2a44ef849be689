"""The per-request context every resolver receives, with its DataLoaders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader
from tortoise import connections

from models import ContactDatabase, Profile, User
from permissions.audit import record_audit
from permissions.errors import NotFound
from permissions.principal import Principal

if TYPE_CHECKING:
    from contactplan.settings import Settings


async def _profiles_by_id(ids: list[int]) -> list[Profile | None]:
    rows = {p.id: p for p in await Profile.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _users_by_id(ids: list[int]) -> list[User | None]:
    rows = {u.id: u for u in await User.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _databases_by_id(ids: list[int]) -> list[ContactDatabase | None]:
    rows = {d.id: d for d in await ContactDatabase.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


def _grants_loader(table: str, owner_column: str) -> DataLoader[int, list[int]]:
    # table and column names come from the two call sites below, never from input
    async def load(ids: list[int]) -> list[list[int]]:
        rows = await connections.get("default").execute_query_dict(
            f"SELECT {owner_column} AS owner, contactdatabase_id AS db FROM {table}"
            f" WHERE {owner_column} = ANY($1::int[]) ORDER BY contactdatabase_id",
            [ids],
        )
        grants: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            grants[row["owner"]].append(row["db"])
        return [grants.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    """Batch loaders, one set per request."""

    profile: DataLoader[int, Profile | None] = field(
        default_factory=lambda: DataLoader(load_fn=_profiles_by_id)
    )
    user: DataLoader[int, User | None] = field(
        default_factory=lambda: DataLoader(load_fn=_users_by_id)
    )
    database: DataLoader[int, ContactDatabase | None] = field(
        default_factory=lambda: DataLoader(load_fn=_databases_by_id)
    )
    user_database_ids: DataLoader[int, list[int]] = field(
        default_factory=lambda: _grants_loader("user_database_grant", "app_user_id")
    )
    api_key_database_ids: DataLoader[int, list[int]] = field(
        default_factory=lambda: _grants_loader("api_key_database_grant", "api_key_id")
    )


@dataclass
class RequestContext:
    """What a resolver knows about the request: who calls, settings, request id."""

    settings: Settings
    request_id: str
    principal: Principal | None = None
    auth_error: str | None = None  # why credentials were refused, for UNAUTHENTICATED
    authorization: str | None = None  # the credentials header, checked again by subscriptions
    connection_params: dict[str, Any] | None = None  # WebSocket connection_init payload
    request: Any = None
    response: Any = None
    loaders: Loaders = field(default_factory=Loaders)
    _named_loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict)  # per-request answers of schema helpers

    def loader(self, name: str, load_fn: Callable[[list[Any]], Awaitable[list[Any]]]) -> DataLoader:
        """This request's DataLoader called `name`, made from `load_fn` on first use.

        Domain modules keep their batch functions next to their resolvers:
        `await ctx.loader("segment_plans", plans_by_segment).load(segment.id)`.
        """
        existing = self._named_loaders.get(name)
        if existing is None:
            existing = self._named_loaders[name] = DataLoader(load_fn=load_fn)
        return existing


async def audit_row(
    ctx: RequestContext, principal: Principal, action: str, obj_type: str, row: Any, **kwargs: Any
) -> None:
    """Audit a change of a database's row (its id and database) with this request's id;
    `kwargs`: `before` / `after` snapshots."""
    await record_audit(
        principal,
        action,
        obj_type,
        row.id,
        database_id=row.database_id,
        request_id=ctx.request_id,
        **kwargs,
    )


def parse_id(value: object, what: str) -> int:
    """An integer id from a GraphQL ID; anything else is simply not found."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise NotFound(what, value)
    return int(text)
