"""Dashboards of a segment or a whole database: chart-ready panels with an SVG link each."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from permissions.classes import principal_of, requires
from permissions.names import Perm
from permissions.principal import Principal
from resolvers import dashboards as resolve
from resolvers.signed_links import DEFAULT_TTL_SECONDS, link_url, link_version, sign_link
from schema.base import Info
from schema.relay import GlobalID, global_id, node_pk
from segmentation.dashboards import Dashboard, DashboardOptions, Grain, Panel

SVG_PATH = "/downloads/panel.svg"
SVG_TTL_SECONDS = DEFAULT_TTL_SECONDS * 6  # an hour: dashboards stay open in a browser tab


@strawberry.enum(description="How a panel is best drawn.")
class ChartKind(Enum):
    BAR = strawberry.enum_value("bar", description="Bars per label (several series: grouped).")
    LINE = strawberry.enum_value("line", description="Values over time buckets.")
    PIE = strawberry.enum_value("pie", description="Shares of a whole.")
    HISTOGRAM = strawberry.enum_value("histogram", description="Contacts per value band.")


@strawberry.enum(description="Time bucket of the event panels.")
class DashboardGrain(Enum):
    DAY = strawberry.enum_value("day", description="One bucket per day.")
    MONTH = strawberry.enum_value("month", description="One bucket per calendar month.")
    QUARTER = strawberry.enum_value("quarter", description="One bucket per calendar quarter.")
    YEAR = strawberry.enum_value("year", description="One bucket per calendar year.")


@strawberry.type(description="One labelled value of a chart.")
class ChartPoint:
    label: str = strawberry.field(description="Category, bucket or band label.")
    value: float = strawberry.field(description="The value (in the panel's unit).")


@strawberry.type(description="One line, bar group or pie of a chart.")
class ChartSeries:
    name: str = strawberry.field(description="What the series counts.")
    points: list[ChartPoint] = strawberry.field(description="Its values in display order.")


@strawberry.type(description="One chart of a dashboard.")
class DashboardPanel:
    key: str = strawberry.field(
        description="Stable key: age_bands, gender, country, city, contactability, "
        "events_by_category, events_by_type, spend_distribution, purchase_count_distribution, "
        "top_categories, field:<catalog key>, influenced_purchases (with planId), "
        "size_over_time (segments)."
    )
    title: str = strawberry.field(description="Title for people.")
    kind: ChartKind = strawberry.field(description="Bar, line, pie or histogram.")
    unit: str = strawberry.field(description="Unit of the values (contacts, events, %...).")
    computed_at: datetime = strawberry.field(description="When its numbers were computed.")
    series: list[ChartSeries] = strawberry.field(description="The chart's data.")
    summary: list[ChartPoint] = strawberry.field(
        description="Scalar figures beside the chart (e.g. the lift of influenced purchases)."
    )
    svg_token_data: strawberry.Private[dict[str, Any]]
    principal: strawberry.Private[Principal]

    @strawberry.field(description="A short-lived link (one hour) to the chart as an SVG picture.")
    async def svg_url(self, info: Info) -> str:
        token = await sign_link(
            info.context.settings.secret_key,
            self.principal,
            "panel",
            self.svg_token_data | {"panel": self.key},
            version=await link_version(info.context, self.principal),
            ttl_seconds=SVG_TTL_SECONDS,
        )
        return link_url(str(info.context.request.base_url), SVG_PATH, token)

    @classmethod
    def from_panel(cls, panel: Panel, link: dict[str, Any], principal: Principal) -> Any:
        return cls(
            key=panel.key,
            title=panel.title,
            kind=ChartKind(str(panel.kind)),
            unit=panel.unit,
            computed_at=panel.computed_at,
            series=[
                ChartSeries(
                    name=s.name, points=[ChartPoint(label=p.label, value=p.value) for p in s.points]
                )
                for s in panel.series
            ],
            summary=[ChartPoint(label=p.label, value=p.value) for p in panel.summary],
            svg_token_data=link,
            principal=principal,
        )


@strawberry.type(description="Panels describing a segment's members or a whole database.")
class DashboardResult:
    database_id: GlobalID = strawberry.field(description="The contact database.")
    segment_id: GlobalID | None = strawberry.field(description="The segment, if any.")
    as_of: datetime = strawberry.field(description="Relative dates resolved at this time.")
    computed_at: datetime = strawberry.field(description="When the panels were computed.")
    cached: bool = strawberry.field(description="True if read from the cache (see reload).")
    panels: list[DashboardPanel] = strawberry.field(description="The charts in display order.")

    @strawberry.field(description="One panel by key, or null.")
    def panel(
        self, key: Annotated[str, strawberry.argument(description="A panel key.")]
    ) -> DashboardPanel | None:
        return next((p for p in self.panels if p.key == key), None)

    @classmethod
    def from_dashboard(
        cls, dashboard: Dashboard, link: dict[str, Any], principal: Principal
    ) -> DashboardResult:
        return cls(
            database_id=global_id("Database", dashboard.database_id),
            segment_id=(
                None if dashboard.segment_id is None else global_id("Segment", dashboard.segment_id)
            ),
            as_of=dashboard.as_of,
            computed_at=dashboard.computed_at,
            cached=dashboard.from_cache,
            panels=[DashboardPanel.from_panel(p, link, principal) for p in dashboard.panels],
        )


@strawberry.input(description="What a dashboard shows; every option has a default.")
class DashboardOptionsInput:
    since: date | None = strawberry.field(
        default=None, description="First day of the time frame (default: 11 months back)."
    )
    until: date | None = strawberry.field(
        default=None, description="Day after the time frame (default: up to now)."
    )
    grain: DashboardGrain = strawberry.field(
        default=DashboardGrain.MONTH, description="Time bucket of the event panels."
    )
    top_n: int = strawberry.field(
        default=10, description="Countries, cities, categories and field values shown (1-100)."
    )
    age_bands: list[int] | None = strawberry.field(
        default=None, description="Lower bounds of the age bands (default 18,25,35,45,55,65)."
    )
    spend_bands: list[float] | None = strawberry.field(
        default=None, description="Lower bounds of the spend levels (default 50 ... 2500)."
    )
    order_bands: list[int] | None = strawberry.field(
        default=None, description="Lower bounds of the purchase counts (default 1,2,3,4,6,11)."
    )
    field_keys: list[str] = strawberry.field(
        default_factory=list, description="Catalog fields to chart (top values or histogram)."
    )
    histogram_bins: int = strawberry.field(
        default=10, description="Bins of numeric and date histograms (1-100)."
    )
    plan_id: GlobalID | None = strawberry.field(
        default=None, description="Add the influenced purchases of this plan's runs (lift)."
    )
    influence_days: int = strawberry.field(
        default=7, description="Purchases counted this many days after a run (0-366)."
    )
    size_days: int = strawberry.field(
        default=90, description="Days of size over time, for a segment (1-3660)."
    )

    def to_options(self) -> DashboardOptions:
        defaults = DashboardOptions()
        return DashboardOptions(
            since=self.since,
            until=self.until,
            grain=Grain(self.grain.value),
            top_n=self.top_n,
            age_bands=tuple(self.age_bands) if self.age_bands is not None else defaults.age_bands,
            spend_bands=(
                tuple(self.spend_bands) if self.spend_bands is not None else defaults.spend_bands
            ),
            order_bands=(
                tuple(self.order_bands) if self.order_bands is not None else defaults.order_bands
            ),
            field_keys=tuple(self.field_keys),
            histogram_bins=self.histogram_bins,
            plan_id=None if self.plan_id is None else node_pk(self.plan_id, "Plan"),
            influence_days=self.influence_days,
            size_days=self.size_days,
        )


OptionsArg = Annotated[
    DashboardOptionsInput | None, strawberry.argument(description="What to show; defaults apply.")
]
ReloadArg = Annotated[
    bool, strawberry.argument(description="Recompute now instead of reading the cache.")
]


@strawberry.type(description="Dashboards.")
class DashboardsQuery:
    @strawberry.field(
        description="The dashboard of a segment's current members. Requires dashboard.read; "
        "NOT_FOUND for a segment (or plan) the caller cannot see.",
        extensions=requires(Perm.DASHBOARD_READ),
    )
    async def segment_dashboard(
        self,
        info: Info,
        segment_id: Annotated[GlobalID, strawberry.argument(description="A Segment id.")],
        options: OptionsArg = None,
        reload: ReloadArg = False,
    ) -> DashboardResult | None:
        principal = principal_of(info)
        opts = (options or DashboardOptionsInput()).to_options()
        pk = node_pk(segment_id, "Segment")
        dashboard = await resolve.segment_dashboard(
            info.context.settings, principal, pk, opts, reload=reload
        )
        link = {"scope": "segment", "id": pk, "options": resolve.options_to_data(opts)}
        return DashboardResult.from_dashboard(dashboard, link, principal)

    @strawberry.field(
        description="The dashboard of every contact of a database. Requires dashboard.read; "
        "NOT_FOUND for a database the caller has no grant on.",
        extensions=requires(Perm.DASHBOARD_READ),
    )
    async def database_dashboard(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="A Database id.")],
        options: OptionsArg = None,
        reload: ReloadArg = False,
    ) -> DashboardResult | None:
        principal = principal_of(info)
        opts = (options or DashboardOptionsInput()).to_options()
        pk = node_pk(database_id, "Database")
        dashboard = await resolve.database_dashboard(
            info.context.settings, principal, pk, opts, reload=reload
        )
        link = {"scope": "database", "id": pk, "options": resolve.options_to_data(opts)}
        return DashboardResult.from_dashboard(dashboard, link, principal)
