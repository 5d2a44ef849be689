"""Dashboards of a segment or a whole database, for GraphQL and the SVG route.

    dashboard = await segment_dashboard(settings, principal, segment_id, options, reload=False)
    dashboard = await database_dashboard(settings, principal, database_id, options)

Row visibility first (NOT_FOUND for a segment, database or plan the caller cannot see), then
`segmentation.dashboards.compute_dashboard` with the process's Redis cache.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from tortoise import connections

from models import Segment
from permissions.errors import BadArgument, Forbidden, NotFound
from permissions.names import Perm
from permissions.principal import Principal
from permissions.rules import can_see_database, database_q, may
from segmentation import InvalidSegment, compile_for_database
from segmentation.dashboards import (
    Dashboard,
    DashboardCache,
    DashboardError,
    DashboardOptions,
    Grain,
    compute_dashboard,
)

if TYPE_CHECKING:
    from contactplan.settings import Settings

_CACHES: dict[tuple[str, int], DashboardCache] = {}


def dashboard_cache(settings: Settings) -> DashboardCache | None:
    """The Redis dashboard cache of this process and event loop (None without Redis)."""
    if not settings.redis_url:
        return None
    key = (settings.redis_url, id(asyncio.get_running_loop()))
    cache = _CACHES.get(key)
    if cache is None:
        cache = _CACHES[key] = DashboardCache.from_url(settings.redis_url)
    return cache


def options_to_data(options: DashboardOptions) -> dict[str, Any]:
    """JSON-ready options (for a signed link)."""
    return options.to_dict()


def options_from_data(data: dict[str, Any]) -> DashboardOptions:
    """The options of `options_to_data`."""
    values = dict(data)
    for key in ("since", "until"):
        values[key] = date.fromisoformat(values[key]) if values.get(key) else None
    values["grain"] = Grain(values["grain"])
    for key in ("age_bands", "order_bands", "field_keys", "spend_bands"):
        values[key] = tuple(values[key])
    return DashboardOptions(**values)


async def _segment(principal: Principal, segment_id: int) -> Segment:
    segment = await Segment.filter(
        database_q(principal), id=segment_id, deleted_at__isnull=True
    ).first()
    if segment is None:
        raise NotFound("Segment", segment_id)
    return segment


async def _check_personal_fields(
    principal: Principal, database_id: int, options: DashboardOptions
) -> None:
    """Charting a personal-data field (names, birth dates...) needs personal_data.read."""
    if not options.field_keys or may(principal, Perm.PERSONAL_DATA_READ):
        return
    rows = await connections.get("default").execute_query_dict(
        "SELECT key FROM catalog_field WHERE database_id = $1 AND key = ANY($2::text[]) AND pii",
        [database_id, list(options.field_keys)],
    )
    if rows:
        raise Forbidden(
            f"Field {rows[0]['key']!r} is personal data: charting it needs personal_data.read."
        )


async def _compute(
    settings: Settings, principal: Principal, database_id: int, members: Any, **kwargs: Any
) -> Dashboard:
    await _check_personal_fields(principal, database_id, kwargs["options"])
    try:
        return await compute_dashboard(
            database_id, members, as_of=datetime.now(UTC), cache=dashboard_cache(settings), **kwargs
        )
    except DashboardError as error:
        if error.code == "not_found" and error.path == "planId":
            raise NotFound("Plan", kwargs["options"].plan_id) from error
        if error.code == "not_found" and error.path == "databaseId":
            raise NotFound("Database", database_id) from error
        raise BadArgument(f"options.{error.path}: {error.message}") from error


async def segment_dashboard(
    settings: Settings,
    principal: Principal,
    segment_id: int,
    options: DashboardOptions,
    *,
    reload: bool = False,
) -> Dashboard:
    """The dashboard of a visible segment's current members; NOT_FOUND otherwise."""
    segment = await _segment(principal, segment_id)
    database_id = segment.database_id  # type: ignore[attr-defined]

    async def resolve_reference(ref_id: int) -> Any:
        ref = await Segment.filter(
            id=ref_id, database_id=database_id, deleted_at__isnull=True
        ).first()
        return None if ref is None else ref.definition

    try:
        members = await compile_for_database(
            segment.definition,
            database_id,
            datetime.now(UTC),
            resolve_segment=resolve_reference,
            segment_id=segment.id,
        )
    except InvalidSegment as error:
        raise BadArgument(f"The segment's definition is no longer valid: {error}") from error
    return await _compute(
        settings,
        principal,
        database_id,
        members,
        options=options,
        force=reload,
        segment_id=segment.id,
        definition=[segment.definition, segment.version],
    )


async def database_dashboard(
    settings: Settings,
    principal: Principal,
    database_id: int,
    options: DashboardOptions,
    *,
    reload: bool = False,
) -> Dashboard:
    """The dashboard of every contact of a visible database; NOT_FOUND otherwise."""
    if not can_see_database(principal, database_id):
        raise NotFound("Database", database_id)
    return await _compute(settings, principal, database_id, None, options=options, force=reload)
