"""Dashboards: chart-ready panels for a segment or a whole database, cached, and their SVGs.

    cache = DashboardCache.from_url(settings.redis_url)          # one per process
    compiled = await compile_for_database(segment.definition, database_id, as_of)
    dashboard = await compute_dashboard(
        database_id, compiled, as_of=as_of, options=DashboardOptions(grain=Grain.MONTH),
        cache=cache, segment_id=segment.id, definition=segment.definition, force=False,
    )                                                            # members=None: whole database
    svg = await asyncio.to_thread(render_panel_svg, dashboard.panel("age_bands"))
    await take_snapshot(segment.id, day, count)                  # daily, for size over time

Bad input raises DashboardError(path, message, code) naming the option (`fieldKeys[1]`).
"""

from segmentation.dashboards.cache import DashboardCache, definition_hash
from segmentation.dashboards.compute import compute_dashboard
from segmentation.dashboards.model import (
    Dashboard,
    DashboardError,
    DashboardOptions,
    Grain,
    Panel,
    PanelKind,
    Point,
    Series,
)
from segmentation.dashboards.size import take_snapshot
from segmentation.dashboards.svg import render_panel_svg

__all__ = [
    "Dashboard",
    "DashboardCache",
    "DashboardError",
    "DashboardOptions",
    "Grain",
    "Panel",
    "PanelKind",
    "Point",
    "Series",
    "compute_dashboard",
    "definition_hash",
    "render_panel_svg",
    "take_snapshot",
]
