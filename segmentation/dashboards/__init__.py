"""Dashboards: chart-ready panels for a segment or a whole database, cached, and their SVGs."""

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
