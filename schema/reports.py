"""Run reports, their search and downloads, and a contact's history: types and root fields."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from models import Recipient
from permissions.classes import principal_of, requires
from permissions.errors import BadArgument, Forbidden
from permissions.names import Perm
from permissions.rules import may
from resolvers import contact_history as history
from resolvers import reports as resolve
from resolvers.reports import ConsumerReport, ReportFilter, RunReport
from resolvers.signed_links import DEFAULT_TTL_SECONDS, link_url, sign_link
from schema.base import Info
from schema.relay import CountedConnection, GlobalID, Node, NodeID, global_id, int_ids, node_pk

if TYPE_CHECKING:
    from schema.plan_parts import ChannelType
    from schema.plans import Plan, PlanRun, RunStateType, RunTriggerType
    from schema.segments import Segment

DOWNLOAD_PATH = "/downloads/reports"

PlanRunRef = Annotated["PlanRun", strawberry.lazy("schema.plans")]
PlanRef = Annotated["Plan", strawberry.lazy("schema.plans")]
SegmentRef = Annotated["Segment", strawberry.lazy("schema.segments")]
RunStateRef = Annotated["RunStateType", strawberry.lazy("schema.plans")]
RunTriggerRef = Annotated["RunTriggerType", strawberry.lazy("schema.plans")]
ChannelRef = Annotated["ChannelType", strawberry.lazy("schema.plan_parts")]


async def load_node(info: Info, node_type: Any, pk: int) -> Any:
    """A Node of `node_type` by primary key through its `resolve_nodes` (visibility there),
    batched per request and type; None if missing or not visible."""

    async def load(ids: list[int]) -> list[Any]:
        found = node_type.resolve_nodes(info=info, node_ids=[str(i) for i in ids])
        return list(await found if hasattr(found, "__await__") else found)

    return await info.context.loader(f"report_node:{node_type.__name__}", load).load(pk)


async def _plan_run(info: Info, pk: int) -> Any:
    from schema.plans import PlanRun

    return await load_node(info, PlanRun, pk)


async def _plan(info: Info, pk: int) -> Any:
    from schema.plans import Plan

    return await load_node(info, Plan, pk)


async def _segment(info: Info, pk: int) -> Any:
    from schema.segments import Segment

    return await load_node(info, Segment, pk)


@strawberry.enum(description="File format of a report download.")
class ReportFormat(Enum):
    CSV = strawberry.enum_value("csv", description="Comma-separated values, UTF-8 with a BOM.")
    XLSX = strawberry.enum_value("xlsx", description="An Excel workbook.")


@strawberry.enum(description="What a report download holds.")
class ReportContent(Enum):
    SUMMARY = strawberry.enum_value(
        "summary", description="One row per run and consumer: funnel, deliveries, feedback."
    )
    RECIPIENTS = strawberry.enum_value(
        "recipients",
        description="Also every recipient of the runs with its status and feedback counts "
        "(CSV: the recipients only; Excel: a second sheet). Needs contact.download; "
        "addresses and error texts only with personal_data.read.",
    )


@strawberry.type(description="Contacts excluded from a run for one reason.")
class ReportExclusion:
    reason: str = strawberry.field(
        description="no_consent, no_address, dnd (contact pressure) or limit (contacts number)."
    )
    contacts: int = strawberry.field(description="How many contacts.")


@strawberry.type(description="How a run's segment became its list of recipients.")
class ReportFunnel:
    segment_size: int | None = strawberry.field(description="Segment members at run time.")
    excluded: list[ReportExclusion] = strawberry.field(description="Exclusions per reason.")
    excluded_total: int = strawberry.field(description="All exclusions (control group apart).")
    control_group: int = strawberry.field(description="Kept aside as control group, not sent.")
    recipients: int = strawberry.field(description="Contacts to send to (sent, failed, pending).")
    sent: int = strawberry.field(description="Recipients handed to the platform.")
    failed: int = strawberry.field(description="Recipients whose sending failed.")
    pending: int = strawberry.field(description="Recipients not sent yet.")


@strawberry.type(description="What one consumer of a run (delivery, export, webhook) did.")
class ReportConsumer:
    position: int = strawberry.field(description="Index in the plan's consumers.")
    kind: str = strawberry.field(description="delivery, export or webhook.")
    channel: str | None = strawberry.field(description="email, sms or push for a delivery.")
    delivery_id: str | None = strawberry.field(description="The platform's delivery id.")
    status: str = strawberry.field(description="Status of the delivery on the platform.")
    sent: int = strawberry.field(description="Recipients sent (export: rows written).")
    delivered: int = strawberry.field(description="Contacts the platform reported delivered.")
    bounced: int = strawberry.field(description="Contacts the platform reported bounced.")
    unique_opens: int = strawberry.field(description="Contacts who opened at least once.")
    total_opens: int = strawberry.field(description="All opens.")
    unique_clicks: int = strawberry.field(description="Contacts who clicked at least once.")
    total_clicks: int = strawberry.field(description="All clicks.")
    errors: int = strawberry.field(description="Failed recipients (export/webhook: 1 if failed).")
    error: str | None = strawberry.field(description="The consumer's last error message.")
    batches: int = strawberry.field(description="Delivery batches.")
    failed_batches: int = strawberry.field(description="Batches that failed for good.")
    attempts: int = strawberry.field(description="Sending attempts over all batches.")
    first_sent_at: datetime | None = strawberry.field(description="First batch sent.")
    last_sent_at: datetime | None = strawberry.field(description="Last batch sent.")

    @classmethod
    def from_report(cls, c: ConsumerReport) -> ReportConsumer:
        f = c.feedback
        return cls(
            position=c.position,
            kind=c.kind,
            channel=c.channel,
            delivery_id=c.delivery_id,
            status=c.status,
            sent=c.sent,
            delivered=f.delivered,
            bounced=f.bounced,
            unique_opens=f.unique_opens,
            total_opens=f.total_opens,
            unique_clicks=f.unique_clicks,
            total_clicks=f.total_clicks,
            errors=c.errors,
            error=c.error,
            batches=c.batches,
            failed_batches=c.failed_batches,
            attempts=c.attempts,
            first_sent_at=c.first_sent_at,
            last_sent_at=c.last_sent_at,
        )


@strawberry.type(description="When a run's steps happened and how long they took.")
class ReportTimings:
    created_at: datetime = strawberry.field(description="Run created (claimed by the scheduler).")
    started_at: datetime | None = strawberry.field(description="List evaluation started.")
    listed_at: datetime | None = strawberry.field(description="Recipient list written.")
    finished_at: datetime | None = strawberry.field(description="Run finished.")
    evaluation_seconds: float | None = strawberry.field(description="Start to list written.")
    delivery_seconds: float | None = strawberry.field(description="List written to finished.")
    total_seconds: float | None = strawberry.field(description="Start to finished.")


@strawberry.type(description="The report of one plan run. Its id is the report's own.")
class Report(Node):
    id: NodeID[int]
    run_id: GlobalID = strawberry.field(description="The run (a PlanRun id).")
    plan_id: GlobalID = strawberry.field(description="The plan (a Plan id).")
    plan_name: str = strawberry.field(description="The plan's name.")
    author_id: GlobalID = strawberry.field(description="The plan's author (a User id).")
    author_name: str = strawberry.field(description="The plan's author.")
    plan_created_at: datetime = strawberry.field(description="When the plan was created.")
    segment_id: GlobalID = strawberry.field(description="The segment (a Segment id).")
    segment_name: str = strawberry.field(description="The segment's name.")
    trigger_value: strawberry.Private[str]
    state_value: strawberry.Private[str]
    channel_value: strawberry.Private[str | None]
    scheduled_for: datetime = strawberry.field(description="When the run was due.")
    run_at: datetime = strawberry.field(description="When the run started (or is due).")
    as_of: datetime = strawberry.field(description="Relative dates of the segment resolved here.")
    funnel: ReportFunnel = strawberry.field(description="From segment to recipients.")
    consumers: list[ReportConsumer] = strawberry.field(
        description="Per consumer: delivery, platform feedback, errors."
    )
    timings: ReportTimings = strawberry.field(description="Steps and durations.")
    error: str | None = strawberry.field(description="Why the run failed, if it did.")

    @strawberry.field(description="The run's state.")
    def state(self) -> RunStateRef:
        from schema.plans import RunStateType

        return RunStateType(self.state_value)

    @strawberry.field(description="What started the run.")
    def trigger(self) -> RunTriggerRef:
        from schema.plans import RunTriggerType

        return RunTriggerType(self.trigger_value)

    @strawberry.field(description="The channel of the run's delivery, if it has one.")
    def channel(self) -> ChannelRef | None:
        from schema.plan_parts import ChannelType

        return None if self.channel_value is None else ChannelType(self.channel_value)

    @strawberry.field(
        description="The run itself. Needs plan.read.",
        extensions=requires(Perm.PLAN_READ, fail_silently=True),
    )
    async def run(self, info: Info) -> PlanRunRef | None:
        return await _plan_run(info, node_pk(self.run_id, "PlanRun"))

    @strawberry.field(
        description="The plan. Needs plan.read.",
        extensions=requires(Perm.PLAN_READ, fail_silently=True),
    )
    async def plan(self, info: Info) -> PlanRef | None:
        return await _plan(info, node_pk(self.plan_id, "Plan"))

    @strawberry.field(
        description="The segment as it is now (null once deleted). Needs segment.read.",
        extensions=requires(Perm.SEGMENT_READ, fail_silently=True),
    )
    async def segment(self, info: Info) -> SegmentRef | None:
        return await _segment(info, node_pk(self.segment_id, "Segment"))

    @classmethod
    def from_report(cls, r: RunReport) -> Report:
        """The GraphQL form of a RunReport (see resolvers.reports)."""
        return cls(
            id=r.run_id,
            run_id=global_id("PlanRun", r.run_id),
            plan_id=global_id("Plan", r.plan_id),
            plan_name=r.plan_name,
            author_id=global_id("User", r.author_id),
            author_name=r.author_name,
            plan_created_at=r.plan_created_at,
            segment_id=global_id("Segment", r.segment_id),
            segment_name=r.segment_name,
            trigger_value=r.trigger,
            state_value=r.state,
            scheduled_for=r.scheduled_for,
            run_at=r.run_at,
            as_of=r.as_of,
            channel_value=r.channel,
            funnel=ReportFunnel(
                segment_size=r.segment_size,
                excluded=[ReportExclusion(reason=k, contacts=n) for k, n in r.excluded.items()],
                excluded_total=sum(r.excluded.values()),
                control_group=r.control,
                recipients=r.recipients,
                sent=r.sent,
                failed=r.failed,
                pending=r.pending,
            ),
            consumers=[ReportConsumer.from_report(c) for c in r.consumers],
            timings=ReportTimings(
                created_at=r.created_at,
                started_at=r.started_at,
                listed_at=r.listed_at,
                finished_at=r.finished_at,
                evaluation_seconds=r.evaluation_seconds,
                delivery_seconds=r.delivery_seconds,
                total_seconds=r.total_seconds,
            ),
            error=r.error,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Report | None]:
        """Reports by run id; None where the run is not visible or report.read is missing."""
        principal = principal_of(info)
        ids = int_ids(node_ids)
        if not may(principal, Perm.REPORT_READ):
            return [None] * len(ids)
        found = await resolve.load_reports(principal, [i for i in ids if i is not None])
        by_id = {r.run_id: cls.from_report(r) for r in found if r is not None}
        return [by_id.get(i) if i is not None else None for i in ids]


async def run_report(info: Info, run_id: int) -> Report | None:
    """`PlanRun.report`: the run's report, batched with the request's other runs; None
    without report.read (guard the field with `requires(Perm.REPORT_READ, fail_silently=True)`)."""
    principal = principal_of(info)
    if not may(principal, Perm.REPORT_READ):
        return None
    found = await resolve.report_for_run(info.context, principal, run_id)
    return None if found is None else Report.from_report(found)


@strawberry.type(description="Reports, page by page, newest run first.")
class ReportConnection(CountedConnection[Report]):
    pass


@strawberry.input(description="Filters of a report search; all optional, combined with AND.")
class ReportFilterInput:
    plan_id: GlobalID | None = strawberry.field(default=None, description="Runs of this plan.")
    segment_id: GlobalID | None = strawberry.field(
        default=None, description="Runs of plans on this segment."
    )
    author_id: GlobalID | None = strawberry.field(
        default=None, description="Runs of plans by this user (a User id)."
    )
    state: RunStateRef | None = strawberry.field(default=None, description="Runs in a state.")
    channel: ChannelRef | None = strawberry.field(
        default=None, description="Runs delivering on this channel."
    )

    def to_filter(self) -> ReportFilter:
        return ReportFilter(
            plan_id=None if self.plan_id is None else node_pk(self.plan_id, "Plan"),
            segment_id=None if self.segment_id is None else node_pk(self.segment_id, "Segment"),
            author_id=None if self.author_id is None else node_pk(self.author_id, "User"),
            state=None if self.state is None else self.state.value,
            channel=None if self.channel is None else self.channel.value,
        )


@strawberry.type(description="A short-lived link to download reports.")
class ReportDownload:
    url: str = strawberry.field(description="GET it with no header; it expires at expiresAt.")
    expires_at: datetime = strawberry.field(description="When the link stops working.")
    filename: str = strawberry.field(description="Name of the file it downloads.")


@strawberry.type(description="A feedback event of the contact for a run's message.")
class ContactFeedbackEvent:
    kind: str = strawberry.field(description="delivered, bounced, opened or clicked.")
    channel: str = strawberry.field(description="email, sms or push.")
    occurred_at: datetime = strawberry.field(description="When it happened.")
    subject: str | None = strawberry.field(
        description="The message's subject (may be personalised): needs personal_data.read.",
        extensions=requires(Perm.PERSONAL_DATA_READ, fail_silently=True),
    )
    link_category: str | None = strawberry.field(description="Category of the clicked link.")
    url: str | None = strawberry.field(
        description="The clicked link (may identify the person): needs personal_data.read.",
        extensions=requires(Perm.PERSONAL_DATA_READ, fail_silently=True),
    )


@strawberry.type(description="One run a contact was in: what it was sent and what it did.")
class ContactHistoryEntry:
    run_id: GlobalID = strawberry.field(description="The run (a PlanRun id).")
    plan_id: GlobalID = strawberry.field(description="The plan (a Plan id).")
    plan_name: str = strawberry.field(description="The plan's name.")
    run_at: datetime = strawberry.field(description="When the run started (or is due).")
    run_state: str = strawberry.field(description="The run's state.")
    status: str = strawberry.field(description="excluded, control, pending, sent or failed.")
    exclusion_reason: str | None = strawberry.field(description="Why it was excluded.")
    channel: str | None = strawberry.field(description="The channel of the plan's delivery.")
    template: str | None = strawberry.field(description="The message template it was sent.")
    sent_at: datetime | None = strawberry.field(description="When its batch was sent.")
    address: str | None = strawberry.field(
        description="The address it was sent to: needs personal_data.read.",
        extensions=requires(Perm.PERSONAL_DATA_READ, fail_silently=True),
    )
    error: str | None = strawberry.field(
        description="Why sending failed (may quote the address): needs personal_data.read.",
        extensions=requires(Perm.PERSONAL_DATA_READ, fail_silently=True),
    )
    row: strawberry.Private[Any]

    @strawberry.field(
        description="The run. Needs plan.read.",
        extensions=requires(Perm.PLAN_READ, fail_silently=True),
    )
    async def run(self, info: Info) -> PlanRunRef | None:
        return await _plan_run(info, self.row.run_id)

    @strawberry.field(
        description="The plan. Needs plan.read.",
        extensions=requires(Perm.PLAN_READ, fail_silently=True),
    )
    async def plan(self, info: Info) -> PlanRef | None:
        return await _plan(info, self.row.run.plan_id)

    @strawberry.field(description="What the contact did with this run's message.")
    async def events(self, info: Info) -> list[ContactFeedbackEvent]:
        found = await history.feedback_for(info.context, self.row)
        return [
            ContactFeedbackEvent(
                kind=e.kind,
                channel=e.channel,
                occurred_at=e.occurred_at,
                subject=e.subject,
                link_category=e.link_category,
                url=e.url,
            )
            for e in found
        ]

    @classmethod
    def from_model(cls, row: Recipient) -> ContactHistoryEntry:
        run, plan = row.run, row.run.plan
        delivery = next(
            (
                c
                for c in plan.consumers or []
                if isinstance(c, dict) and c.get("kind") == "delivery"
            ),
            {},
        )
        return cls(
            run_id=global_id("PlanRun", run.id),
            plan_id=global_id("Plan", plan.id),
            plan_name=plan.name,
            run_at=run.started_at or run.scheduled_for,
            run_state=str(run.state.value if hasattr(run.state, "value") else run.state),
            status=str(row.status.value if hasattr(row.status, "value") else row.status),
            exclusion_reason=row.exclusion_reason,
            channel=delivery.get("channel"),
            template=delivery.get("template"),
            sent_at=row.sent_at,
            address=row.address,
            error=row.error,
            row=row,
        )


@strawberry.type(description="A contact's runs, page by page, newest first.")
class ContactHistoryConnection(CountedConnection[ContactHistoryEntry]):
    pass


@strawberry.type(description="Run reports and contact histories.")
class ReportsQuery:
    @strawberry.field(
        description="The report of one plan run. Requires report.read; NOT_FOUND if the run "
        "is in a database the caller has no grant on.",
        extensions=requires(Perm.REPORT_READ),
    )
    async def report(
        self,
        info: Info,
        run_id: Annotated[GlobalID, strawberry.argument(description="A PlanRun id.")],
    ) -> Report | None:
        report = await resolve.get_report(principal_of(info), node_pk(run_id, "PlanRun"))
        return Report.from_report(report)

    @strawberry.field(
        description="Reports of the runs of the last `days` days of a database, newest first "
        "(test sends are left out). Requires report.read.",
        extensions=requires(Perm.REPORT_READ),
    )
    async def reports(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="A Database id.")],
        days: Annotated[
            int, strawberry.argument(description="Runs scheduled in the last N days (1-3660).")
        ] = 30,
        filter: Annotated[
            ReportFilterInput | None, strawberry.argument(description="Optional filters.")
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (1-500, default 50).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor of the previous page's end.")
        ] = None,
    ) -> ReportConnection | None:
        page = await resolve.search_reports(
            principal_of(info),
            node_pk(database_id, "Database"),
            days=days,
            filters=filter.to_filter() if filter else None,
            first=first,
            after=after,
        )
        return ReportConnection.from_page(page, Report.from_report)

    @strawberry.field(
        description="A short-lived link (10 minutes) to download reports as CSV or Excel. "
        "Requires report.download (and contact.download for recipients); the link works "
        "only while its caller still holds them.",
        extensions=requires(Perm.REPORT_DOWNLOAD),
    )
    async def report_download(
        self,
        info: Info,
        run_ids: Annotated[list[GlobalID], strawberry.argument(description="PlanRun ids (1-500).")],
        format: Annotated[
            ReportFormat, strawberry.argument(description="CSV or XLSX.")
        ] = ReportFormat.CSV,
        content: Annotated[
            ReportContent, strawberry.argument(description="Summary, or with recipients.")
        ] = ReportContent.SUMMARY,
    ) -> ReportDownload | None:
        principal = principal_of(info)
        if not 1 <= len(run_ids) <= resolve.MAX_RUNS_PER_DOWNLOAD:
            raise BadArgument(f"runIds needs 1 to {resolve.MAX_RUNS_PER_DOWNLOAD} ids.")
        if content is ReportContent.RECIPIENTS and not may(principal, Perm.CONTACT_DOWNLOAD):
            raise Forbidden("Your profile lacks the permission 'contact.download'.")
        ids = list(dict.fromkeys(node_pk(i, "PlanRun") for i in run_ids))
        await resolve.get_reports(principal, ids)  # NOT_FOUND for a run the caller cannot see
        token = await sign_link(
            info.context.settings.secret_key,
            principal,
            "reports",
            {"runs": ids, "format": format.value, "content": content.value},
        )
        filename = download_filename(ids, format.value, content.value)
        return ReportDownload(
            url=link_url(str(info.context.request.base_url), DOWNLOAD_PATH, token),
            expires_at=datetime.now(UTC) + timedelta(seconds=DEFAULT_TTL_SECONDS),
            filename=filename,
        )

    @strawberry.field(
        description="The runs a contact was in, what it was sent and what it did, newest "
        "first. Requires report.read and contact.read.",
        extensions=requires(Perm.REPORT_READ),
    )
    async def contact_history(
        self,
        info: Info,
        contact_id: Annotated[GlobalID, strawberry.argument(description="A Contact id.")],
        first: Annotated[
            int | None, strawberry.argument(description="Page size (1-500, default 50).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor of the previous page's end.")
        ] = None,
    ) -> ContactHistoryConnection | None:
        principal = principal_of(info)
        if not may(principal, Perm.CONTACT_READ):
            raise Forbidden("Your profile lacks the permission 'contact.read'.")
        page = await history.contact_history(
            principal, node_pk(contact_id, "Contact"), first=first, after=after
        )
        return ContactHistoryConnection.from_page(page, ContactHistoryEntry.from_model)


def download_filename(run_ids: list[int], fmt: str, content: str) -> str:
    """`report-<run>.csv`, `reports-<n>.xlsx`, `recipients-<run>.csv`..."""
    stem = "recipients" if content == "recipients" else "report"
    name = f"{stem}-{run_ids[0]}" if len(run_ids) == 1 else f"{stem}s-{len(run_ids)}-runs"
    return f"{name}.{fmt}"
