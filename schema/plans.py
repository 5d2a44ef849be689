"""Plans and plan runs: types, inputs, root queries, mutations and the run-progress subscription.

The parts of a plan (schedule, options, consumers) are in `schema/plan_parts.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from models import Plan as PlanRow
from models import PlanRun as PlanRunRow
from models import RunConsumer
from permissions.auth import reauthenticate
from permissions.classes import principal_of, requires
from permissions.names import Perm
from permissions.principal import Principal
from permissions.rules import can_edit
from resolvers import plans as resolve
from resolvers.plans import CalendarBucketData
from schema.accounts import User
from schema.base import Info, UserError, user_errors
from schema.databases import Database
from schema.dnd import DndPolicy
from schema.plan_parts import (
    ChannelType,
    PlanConsumer,
    PlanConsumerInput,
    PlanOptions,
    PlanOptionsInput,
    Schedule,
    ScheduleInput,
    SchedulePreview,
    SchedulePreviewResult,
    consumers_of,
)
from schema.relay import CountedConnection, GlobalID, Node, NodeID, int_ids, node_pk

if TYPE_CHECKING:
    from schema.reports import Report
    from schema.segments import Segment


def _value(value: str, description: str) -> Any:
    return strawberry.enum_value(value, description=description)


@strawberry.enum(name="PlanState", description="Where a plan is in its life.")
class PlanStateType(Enum):
    DRAFT = _value("draft", "Being edited; does not run.")
    READY = _value("ready", "A one-shot plan waiting for its time.")
    ACTIVE = _value("active", "A started recurrence master: its next instance will run.")
    PAUSED = _value("paused", "A stopped recurrence.")
    ARCHIVED = _value("archived", "Ran, or the recurrence ended.")
    ERROR = _value("error", "A run missed its contacts number.")


@strawberry.enum(name="RunState", description="Where a run is.")
class RunStateType(Enum):
    PENDING = _value("pending", "Created, waiting for a worker.")
    EVALUATING = _value("evaluating", "Writing the recipient list.")
    DELIVERING = _value("delivering", "Sending batches to the delivery platform.")
    COMPLETED = _value("completed", "Done.")
    FAILED = _value("failed", "Stopped by an error.")
    CANCELLED = _value("cancelled", "Cancelled by a user.")
    PAUSED = _value("paused", "Too many delivery errors; can be resumed.")


@strawberry.enum(name="RunTrigger", description="What started a run.")
class RunTriggerType(Enum):
    SCHEDULE = _value("schedule", "Its scheduled time came.")
    MANUAL = _value("manual", "Started by hand.")
    TEST = _value("test", "A test send, kept apart from real runs and reports.")


@strawberry.enum(description="How a calendar groups runs.")
class CalendarGrain(Enum):
    DAY = _value("day", "One bucket per day.")
    WEEK = _value("week", "One bucket per week, from Monday.")
    MONTH = _value("month", "One bucket per calendar month.")


@strawberry.enum(description="Orders of the plan list.")
class PlanOrderField(Enum):
    NAME = _value("name", "By name.")
    CREATED_AT = _value("created_at", "By creation time.")
    UPDATED_AT = _value("updated_at", "By last change.")


# --- run types ------------------------------------------------------------------------------


@strawberry.type(description="Contacts of a run's segment excluded for one reason.")
class FunnelExclusion:
    reason: str = strawberry.field(
        description="no_consent, no_address, dnd or limit (the contacts-number limit)."
    )
    count: int = strawberry.field(description="How many contacts.")


@strawberry.type(description="What a run's list is made of: the segment, what was excluded, "
                 "the control group and the recipients.")  # fmt: skip
class RunFunnel:
    segment: int = strawberry.field(description="Contacts in the segment (plus any top-up).")
    excluded: list[FunnelExclusion] = strawberry.field(description="Excluded, per reason.")
    control_group: int = strawberry.field(description="Kept as the control group, not sent.")
    recipients: int = strawberry.field(description="Contacts the message goes to.")
    top_up: int = strawberry.field(description="Of the recipients, added by TOP_UP.")

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RunFunnel:
        """The GraphQL form of a run's funnel counts."""
        data = data or {}
        reasons = ("no_consent", "no_address", "dnd", "limit")
        return cls(
            segment=int(data.get("segment", 0)),
            excluded=[FunnelExclusion(reason=r, count=int(data.get(r, 0))) for r in reasons],
            control_group=int(data.get("control", 0)),
            recipients=int(data.get("pending", 0)),
            top_up=int(data.get("top_up", 0)),
        )


@strawberry.type(description="Where a run stands, read from its delivery batches.")
class RunProgress:
    run_id: GlobalID = strawberry.field(description="The run.")
    state: RunStateType = strawberry.field(description="The run's state.")
    funnel: RunFunnel = strawberry.field(description="The run's list.")
    to_send: int = strawberry.field(description="Recipients in delivery batches.")
    sent: int = strawberry.field(description="Recipients in batches sent.")
    failed: int = strawberry.field(description="Recipients in batches that failed.")
    pending: int = strawberry.field(description="Recipients in batches not yet sent.")
    batches: int = strawberry.field(description="Delivery batches.")
    batches_done: int = strawberry.field(description="Batches sent or failed.")
    error: str | None = strawberry.field(description="Why the run failed or paused.")
    finished: bool = strawberry.field(description="True once the run is over.")

    @classmethod
    def from_progress(cls, p: Any) -> RunProgress:
        """The GraphQL form of actors.plans.RunProgress."""
        return cls(
            run_id=GlobalID("PlanRun", str(p.run_id)),
            state=RunStateType(p.state),
            funnel=RunFunnel.from_json(p.funnel),
            to_send=p.to_send,
            sent=p.sent,
            failed=p.failed,
            pending=p.pending,
            batches=p.batches,
            batches_done=p.batches_done,
            error=p.error,
            finished=p.state in resolve.FINISHED_RUN_STATES,
        )


@strawberry.type(description="What one consumer (delivery, export, webhook) did in a run.")
class RunConsumerResult:
    position: int = strawberry.field(description="Index among the plan's consumers.")
    kind: str = strawberry.field(description="delivery, export or webhook.")
    channel: ChannelType | None = strawberry.field(description="A delivery's channel.")
    status: str = strawberry.field(description="pending, running, done or failed.")
    platform_delivery_id: str | None = strawberry.field(
        description="The delivery's id on the delivery platform."
    )
    stats: JSON = strawberry.field(
        description="Counts reported (sent, delivered, bounced, opens, clicks; rows, file)."
    )
    error: str | None = strawberry.field(description="Why it failed.")

    @classmethod
    def from_model(cls, row: RunConsumer) -> RunConsumerResult:
        """The GraphQL form of a RunConsumer row."""
        return cls(
            position=row.position,
            kind=row.kind,
            channel=ChannelType(row.channel.value) if row.channel else None,
            status=row.status,
            platform_delivery_id=row.platform_delivery_id,
            stats=row.stats or {},
            error=row.error,
        )


@strawberry.type(description="When a run went through its steps.")
class RunTimings:
    created_at: dt.datetime = strawberry.field(description="When the run row was made.")
    started_at: dt.datetime | None = strawberry.field(description="When evaluation started.")
    listed_at: dt.datetime | None = strawberry.field(description="When the list was written.")
    finished_at: dt.datetime | None = strawberry.field(description="When it ended.")
    duration_seconds: float | None = strawberry.field(description="finishedAt - startedAt.")


@strawberry.type(name="PlanRun", description="One execution of a plan (unique per scheduled time).")
class PlanRun(Node):
    id: NodeID[int]
    row: strawberry.Private[PlanRunRow]

    @classmethod
    def from_model(cls, row: PlanRunRow) -> PlanRun:
        """The GraphQL form of a PlanRun row."""
        return cls(id=row.id, row=row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[PlanRun | None]:
        rows = await resolve.runs_by_ids(principal_of(info), int_ids(node_ids))
        return [cls.from_model(r) if r else None for r in rows]

    @strawberry.field(description="The run's state.")
    def state(self) -> RunStateType:
        return RunStateType(self.row.state)

    @strawberry.field(description="What started it.")
    def trigger(self) -> RunTriggerType:
        return RunTriggerType(self.row.trigger)

    @strawberry.field(description="The time it was scheduled for.")
    def scheduled_for(self) -> dt.datetime:
        return self.row.scheduled_for

    @strawberry.field(description="Relative dates of the segment resolve against this time.")
    def as_of(self) -> dt.datetime:
        return self.row.as_of

    @strawberry.field(description="Contacts in the segment when the list was written.")
    def segment_count(self) -> int | None:
        return self.row.segment_count

    @strawberry.field(description="Excluded per reason, control group, recipients.")
    def funnel(self) -> RunFunnel:
        return RunFunnel.from_json(self.row.funnel)

    @strawberry.field(description="When it went through its steps.")
    def timings(self) -> RunTimings:
        r = self.row
        duration = (
            (r.finished_at - r.started_at).total_seconds()
            if r.finished_at and r.started_at
            else None
        )
        return RunTimings(
            created_at=r.created_at,
            started_at=r.started_at,
            listed_at=r.listed_at,
            finished_at=r.finished_at,
            duration_seconds=duration,
        )

    @strawberry.field(description="Why it failed or paused.")
    def error(self) -> str | None:
        return self.row.error

    @strawberry.field(
        description="What each consumer did, with its error if it failed.",
        extensions=requires(Perm.PLAN_READ),
    )
    async def consumers(self, info: Info) -> list[RunConsumerResult] | None:
        rows = await resolve.load_run_consumers(info.context, self.row.id)
        return [RunConsumerResult.from_model(r) for r in rows]

    @strawberry.field(
        description="Delivery progress, read now.", extensions=requires(Perm.PLAN_READ)
    )
    async def progress(self, info: Info) -> RunProgress | None:
        found = await resolve.load_progress(info.context, self.row.id)
        return RunProgress.from_progress(found) if found else None

    @strawberry.field(
        description="The run's report: funnel, delivery results and feedback (null without "
        "report.read).",
        extensions=requires(Perm.REPORT_READ, fail_silently=True),
    )
    async def report(
        self, info: Info
    ) -> Annotated[Report, strawberry.lazy("schema.reports")] | None:
        from schema.reports import run_report

        return await run_report(info, self.row.id)

    @strawberry.field(description="The plan it belongs to.", extensions=requires(Perm.PLAN_READ))
    async def plan(self, info: Info) -> Plan | None:
        row = await resolve.load_plan(info.context, self.row.plan_id)  # type: ignore[attr-defined]
        return Plan.from_model(row) if row else None


@strawberry.type(description="A plan's runs, page by page, newest first.")
class PlanRunConnection(CountedConnection[PlanRun]):
    pass


@strawberry.type(name="Plan", description="How and when an action is carried out on a segment.")
class Plan(Node):
    id: NodeID[int]
    row: strawberry.Private[PlanRow]

    @classmethod
    def from_model(cls, row: PlanRow) -> Plan:
        """The GraphQL form of a Plan row."""
        return cls(id=row.id, row=row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Plan | None]:
        rows = await resolve.plans_by_ids(principal_of(info), int_ids(node_ids))
        return [cls.from_model(r) if r else None for r in rows]

    @strawberry.field(description="Name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Free text.")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="Life-cycle state.")
    def state(self) -> PlanStateType:
        return PlanStateType(self.row.state)

    @strawberry.field(description="Increases on every change; give it back to updatePlan.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="When it runs.")
    def schedule(self) -> Schedule:
        return Schedule.from_json(self.row.schedule)

    @strawberry.field(description="Advanced options: list generation, contacts number, ...")
    def options(self) -> PlanOptions:
        return PlanOptions.from_json(self.row.options)

    @strawberry.field(description="What each run does with its list (zero or more).")
    def consumers(self) -> list[PlanConsumer]:
        return consumers_of(self.row.consumers)

    @strawberry.field(description="The next run (the only instance of a recurrence that exists).")
    def next_run_at(self) -> dt.datetime | None:
        return self.row.next_run_at

    @strawberry.field(description="How many scheduled runs it has made.")
    def runs_done(self) -> int:
        return self.row.runs_done

    @strawberry.field(description="When it was created.")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed.")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at

    @strawberry.field(description="True if the caller may change or delete it.")
    def editable(self, info: Info) -> bool:
        return can_edit(info.context.principal, self.row)

    @strawberry.field(description="Its contact database.", extensions=requires(Perm.PLAN_READ))
    async def database(self, info: Info) -> Database | None:
        row = await info.context.loaders.database.load(self.row.database_id)  # type: ignore[attr-defined]
        return Database.from_model(row) if row else None

    @strawberry.field(description="Who created it.", extensions=requires(Perm.PLAN_READ))
    async def author(self, info: Info) -> User | None:
        row = await info.context.loaders.user.load(self.row.author_id)  # type: ignore[attr-defined]
        return User.from_model(row) if row else None

    @strawberry.field(
        description="The segment it applies to (also when the segment was deleted since).",
        extensions=requires(Perm.SEGMENT_READ),
    )
    async def segment(
        self, info: Info
    ) -> Annotated[Segment, strawberry.lazy("schema.segments")] | None:
        from schema import segments

        row = await resolve.load_segment_of_plan(info.context, self.row)
        return segments.Segment.from_model(row) if row else None

    @strawberry.field(
        description="Its own DND policy; null: the default one applies.",
        extensions=requires(Perm.DND_READ),
    )
    async def dnd_policy(self, info: Info) -> DndPolicy | None:
        row = await resolve.load_dnd_policy_of_plan(info.context, self.row)
        return DndPolicy.from_model(row) if row else None

    @strawberry.field(description="Its runs, newest first.", extensions=requires(Perm.PLAN_READ))
    async def runs(
        self,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
        include_tests: Annotated[
            bool, strawberry.argument(description="Include test sends.")
        ] = False,
    ) -> PlanRunConnection | None:
        page = await resolve.runs_page(self.row.id, first, after, include_tests)
        return PlanRunConnection.from_page(page, PlanRun.from_model)

    @strawberry.field(
        description="The next ten run times after now and the total number of runs.",
        extensions=requires(Perm.PLAN_READ),
    )
    def schedule_preview(self) -> SchedulePreview | None:
        result = resolve.preview_stored(self.row.schedule)
        return SchedulePreview(next=result.next, total=result.total)


@strawberry.type(description="Plans, page by page.")
class PlanConnection(CountedConnection[Plan]):
    pass


# --- calendar ---------------------------------------------------------------------------------


@strawberry.type(description="A run in the calendar: a past or current run, or a future one.")
class CalendarEntry:
    at: dt.datetime = strawberry.field(description="When it runs or ran.")
    planned: bool = strawberry.field(
        description="True for a future occurrence computed from the schedule (no run yet)."
    )
    plan: Plan = strawberry.field(description="The plan.")
    run: PlanRun | None = strawberry.field(description="The stored run; null when planned.")


@strawberry.type(description="One day, week (from Monday) or month of the calendar.")
class CalendarBucket:
    start: dt.date = strawberry.field(description="First day, in the database's time zone.")
    end: dt.date = strawberry.field(description="First day of the next bucket.")
    entries: list[CalendarEntry] = strawberry.field(description="Runs in it, by time.")

    @classmethod
    def from_data(cls, data: CalendarBucketData) -> CalendarBucket:
        """The GraphQL form of a resolver's bucket."""
        return cls(
            start=data.start,
            end=data.end,
            entries=[
                CalendarEntry(
                    at=e.at,
                    planned=e.run is None,
                    plan=Plan.from_model(e.plan),
                    run=PlanRun.from_model(e.run) if e.run else None,
                )
                for e in data.entries
            ],
        )


@strawberry.type(description="Plans and their runs by day, week or month.")
class PlanCalendar:
    timezone: str = strawberry.field(description="Time zone the buckets are days of.")
    grain: CalendarGrain = strawberry.field(description="Day, week or month.")
    buckets: list[CalendarBucket] = strawberry.field(
        description="Every bucket from `from` to `to`, empty ones included."
    )


# --- inputs -----------------------------------------------------------------------------------


@strawberry.input(description="A new plan (created as DRAFT).")
class CreatePlanInput:
    database_id: GlobalID = strawberry.field(description="The contact database.")
    segment_id: GlobalID = strawberry.field(description="The segment (of that database).")
    name: str = strawberry.field(description="Name, 1-200 characters.")
    description: str = strawberry.field(default="", description="Free text.")
    schedule: ScheduleInput = strawberry.field(description="When it runs.")
    dnd_policy_id: GlobalID | None = strawberry.field(
        default=None, description="A DND policy; null: the default one."
    )
    options: PlanOptionsInput | None = strawberry.field(
        default=None, description="Advanced options."
    )
    consumers: list[PlanConsumerInput] = strawberry.field(
        default_factory=list, description="What each run does with its list."
    )


@strawberry.input(description="Changes to a plan; omitted fields stay as they are.")
class UpdatePlanInput:
    id: GlobalID = strawberry.field(description="The plan.")
    version: int = strawberry.field(description="The version read; stale gives CONFLICT.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="New description."
    )
    segment_id: GlobalID | None = strawberry.field(
        default=strawberry.UNSET, description="Another segment of the same database."
    )
    schedule: ScheduleInput | None = strawberry.field(
        default=strawberry.UNSET, description="New schedule (a recurrence's future runs follow)."
    )
    dnd_policy_id: GlobalID | None = strawberry.field(
        default=strawberry.UNSET, description="A DND policy; null: back to the default one."
    )
    options: PlanOptionsInput | None = strawberry.field(
        default=strawberry.UNSET, description="New options (replace all of them)."
    )
    consumers: list[PlanConsumerInput] | None = strawberry.field(
        default=strawberry.UNSET, description="New consumers (replace all of them)."
    )


@strawberry.input(description="Filters of the plan list; all given ones apply.")
class PlanFilter:
    states: list[PlanStateType] | None = strawberry.field(
        default=None, description="Only plans in these states."
    )
    name_contains: str | None = strawberry.field(
        default=None, description="Name contains this (case-insensitive)."
    )
    segment_id: GlobalID | None = strawberry.field(default=None, description="On this segment.")
    author_id: GlobalID | None = strawberry.field(default=None, description="Created by this User.")


@strawberry.input(description="Order of the plan list.")
class PlanOrder:
    field: PlanOrderField = strawberry.field(description="Sort key.")
    descending: bool = strawberry.field(default=False, description="Largest first.")


# --- payloads ---------------------------------------------------------------------------------


@strawberry.type(description="Result of a plan mutation.")
class PlanPayload:
    plan: Plan | None = strawberry.field(
        description="The plan; on CONFLICT the current version, to reload."
    )
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


@strawberry.type(description="Result of deletePlan.")
class DeletePlanPayload:
    deleted_id: GlobalID | None = strawberry.field(description="The deleted plan's id.")
    user_errors: list[UserError] = strawberry.field(description="Why not; empty on success.")


@strawberry.type(description="Result of a run mutation.")
class PlanRunPayload:
    run: PlanRun | None = strawberry.field(description="The run after the change.")
    user_errors: list[UserError] = strawberry.field(description="Why not; empty on success.")


def _plan_payload(outcome: Any) -> PlanPayload:
    value = outcome.value
    return PlanPayload(
        plan=Plan.from_model(value) if value else None, user_errors=user_errors(outcome.errors)
    )


def _run_payload(outcome: Any) -> PlanRunPayload:
    value = outcome.value
    return PlanRunPayload(
        run=PlanRun.from_model(value) if value else None, user_errors=user_errors(outcome.errors)
    )


def _pk(value: GlobalID | None, type_name: str) -> int | None:
    return None if value is None else node_pk(value, type_name)


def _consumer_kinds(consumers: list[PlanConsumerInput] | None) -> list[str]:
    return [c.kind() for c in consumers or []]


IdArg = Annotated[GlobalID, strawberry.argument(description="The plan's global id.")]
RunIdArg = Annotated[GlobalID, strawberry.argument(description="The run's global id.")]


# --- root fields ------------------------------------------------------------------------------


@strawberry.type(description="Plan root queries.")
class PlansQuery:
    @strawberry.field(
        description="Plans of the databases the caller may see, page by page.",
        extensions=requires(Perm.PLAN_READ),
    )
    async def plans(
        self,
        info: Info,
        database_id: Annotated[
            GlobalID | None, strawberry.argument(description="Only this database's plans.")
        ] = None,
        filter: Annotated[PlanFilter | None, strawberry.argument(description="Filters.")] = None,
        order_by: Annotated[
            PlanOrder | None, strawberry.argument(description="Order (default: newest first).")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> PlanConnection | None:
        f = filter or PlanFilter()
        page = await resolve.list_plans(
            principal_of(info),
            database_id=_pk(database_id, "Database"),
            states=[s.value for s in f.states] if f.states else None,
            name_contains=f.name_contains,
            segment_id=_pk(f.segment_id, "Segment"),
            author_id=_pk(f.author_id, "User"),
            order=(order_by.field.value, order_by.descending) if order_by else None,
            first=first,
            after=after,
        )
        return PlanConnection.from_page(page, Plan.from_model)

    @strawberry.field(
        description="One plan; NOT_FOUND if it does not exist or lies in a database the "
        "caller has no grant on.",
        extensions=requires(Perm.PLAN_READ),
    )
    async def plan(self, info: Info, id: IdArg) -> Plan | None:
        return Plan.from_model(await resolve.get_plan(principal_of(info), node_pk(id, "Plan")))

    @strawberry.field(
        description="One plan run; NOT_FOUND like `plan`.", extensions=requires(Perm.PLAN_READ)
    )
    async def plan_run(self, info: Info, id: RunIdArg) -> PlanRun | None:
        return PlanRun.from_model(await resolve.get_run(principal_of(info), node_pk(id, "PlanRun")))

    @strawberry.field(
        description="The next ten dates and the total number of runs of an unsaved schedule; "
        "more than one year or 365 runs is refused in userErrors.",
        extensions=requires(Perm.PLAN_READ),
    )
    async def schedule_preview(
        self,
        info: Info,
        schedule: Annotated[ScheduleInput, strawberry.argument(description="The schedule.")],
        database_id: Annotated[
            GlobalID | None,
            strawberry.argument(description="Its database (default time zone); else UTC."),
        ] = None,
    ) -> SchedulePreviewResult | None:
        result = await resolve.preview_schedule(
            principal_of(info), schedule.to_json(), _pk(database_id, "Database")
        )
        return SchedulePreviewResult.from_result(result)

    @strawberry.field(
        description="A database's plans and their runs by day, week or month: stored runs in "
        "the past and now, future occurrences of READY and ACTIVE plans from their schedules. "
        "At most 400 days.",
        extensions=requires(Perm.PLAN_READ),
    )
    async def plan_calendar(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="The database.")],
        from_: Annotated[
            dt.date, strawberry.argument(name="from", description="First day (inclusive).")
        ],
        to: Annotated[dt.date, strawberry.argument(description="Last day (inclusive).")],
        grain: Annotated[
            CalendarGrain, strawberry.argument(description="Bucket size.")
        ] = CalendarGrain.DAY,
    ) -> PlanCalendar | None:
        timezone, buckets = await resolve.calendar(
            principal_of(info), node_pk(database_id, "Database"), from_, to, grain.value
        )
        return PlanCalendar(
            timezone=timezone,
            grain=grain,
            buckets=[CalendarBucket.from_data(b) for b in buckets],
        )


@strawberry.type(description="Plan root mutations.")
class PlansMutation:
    @strawberry.mutation(
        description="Create a plan (DRAFT) on a segment. Requires plan.write.",
        extensions=requires(Perm.PLAN_WRITE),
    )
    async def create_plan(
        self,
        info: Info,
        input: Annotated[CreatePlanInput, strawberry.argument(description="The plan.")],
    ) -> PlanPayload | None:
        outcome = await resolve.create_plan(
            info.context,
            principal_of(info),
            database_id=node_pk(input.database_id, "Database"),
            segment_id=node_pk(input.segment_id, "Segment"),
            name=input.name,
            description=input.description,
            schedule=input.schedule.to_json(),
            options=input.options.to_json() if input.options else {},
            consumers=[c.to_json() for c in input.consumers],
            dnd_policy_id=_pk(input.dnd_policy_id, "DndPolicy"),
            consumer_kinds=_consumer_kinds(input.consumers),
        )
        return _plan_payload(outcome)

    @strawberry.mutation(
        description="Change a DRAFT plan or a recurrence master. A stale `version` gives "
        "CONFLICT and the current plan. Requires plan.write and authorship (or manage_others).",
        extensions=requires(Perm.PLAN_WRITE),
    )
    async def update_plan(
        self,
        info: Info,
        input: Annotated[UpdatePlanInput, strawberry.argument(description="The changes.")],
    ) -> PlanPayload | None:
        changes: dict[str, Any] = {}
        if input.name is not strawberry.UNSET and input.name is not None:
            changes["name"] = input.name
        if input.description is not strawberry.UNSET and input.description is not None:
            changes["description"] = input.description
        if input.segment_id is not strawberry.UNSET and input.segment_id is not None:
            changes["segment_id"] = node_pk(input.segment_id, "Segment")
        if input.schedule is not strawberry.UNSET and input.schedule is not None:
            changes["schedule"] = input.schedule.to_json()
        if input.dnd_policy_id is not strawberry.UNSET:
            changes["dnd_policy_id"] = _pk(input.dnd_policy_id, "DndPolicy")
        if input.options is not strawberry.UNSET:
            changes["options"] = input.options.to_json() if input.options else {}
        kinds: list[str] = []
        if input.consumers is not strawberry.UNSET:
            changes["consumers"] = [c.to_json() for c in input.consumers or []]
            kinds = _consumer_kinds(input.consumers)
        outcome = await resolve.update_plan(
            info.context,
            principal_of(info),
            node_pk(input.id, "Plan"),
            input.version,
            changes,
            kinds,
        )
        return _plan_payload(outcome)

    @strawberry.mutation(
        description="A DRAFT becomes READY (one shot) or ACTIVE (recurrence). Requires plan.run.",
        extensions=requires(Perm.PLAN_RUN),
    )
    async def mark_plan_ready(self, info: Info, id: IdArg) -> PlanPayload | None:
        return _plan_payload(
            await resolve.transition(info.context, principal_of(info), node_pk(id, "Plan"), "ready")
        )

    @strawberry.mutation(
        description="Back to DRAFT: a READY plan before it runs, an ERROR or PAUSED one; an "
        "ARCHIVED one only with plan.reopen_archived. Requires plan.write.",
        extensions=requires(Perm.PLAN_WRITE),
    )
    async def reopen_plan(self, info: Info, id: IdArg) -> PlanPayload | None:
        return _plan_payload(
            await resolve.transition(
                info.context, principal_of(info), node_pk(id, "Plan"), "reopen"
            )
        )

    @strawberry.mutation(
        description="Stop an ACTIVE recurrence (PAUSED): no new instance. Requires plan.run.",
        extensions=requires(Perm.PLAN_RUN),
    )
    async def stop_recurrence(self, info: Info, id: IdArg) -> PlanPayload | None:
        return _plan_payload(
            await resolve.transition(info.context, principal_of(info), node_pk(id, "Plan"), "stop")
        )

    @strawberry.mutation(
        description="Start a PAUSED recurrence again from its next occurrence. Requires plan.run.",
        extensions=requires(Perm.PLAN_RUN),
    )
    async def start_recurrence(self, info: Info, id: IdArg) -> PlanPayload | None:
        return _plan_payload(
            await resolve.transition(info.context, principal_of(info), node_pk(id, "Plan"), "start")
        )

    @strawberry.mutation(
        description="Delete a plan with no run in progress; an ARCHIVED one only with "
        "plan.reopen_archived. Requires plan.write.",
        extensions=requires(Perm.PLAN_WRITE),
    )
    async def delete_plan(self, info: Info, id: IdArg) -> DeletePlanPayload | None:
        outcome = await resolve.delete_plan(info.context, principal_of(info), node_pk(id, "Plan"))
        return DeletePlanPayload(
            deleted_id=id if outcome.value else None, user_errors=user_errors(outcome.errors)
        )

    @strawberry.mutation(
        description="Cancel a run that has not finished: nothing more is sent. Requires plan.run.",
        extensions=requires(Perm.PLAN_RUN),
    )
    async def cancel_run(self, info: Info, id: RunIdArg) -> PlanRunPayload | None:
        return _run_payload(
            await resolve.control_run(
                info.context, principal_of(info), node_pk(id, "PlanRun"), "cancel"
            )
        )

    @strawberry.mutation(
        description="Resume a PAUSED run. Requires plan.run.", extensions=requires(Perm.PLAN_RUN)
    )
    async def resume_run(self, info: Info, id: RunIdArg) -> PlanRunPayload | None:
        return _run_payload(
            await resolve.control_run(
                info.context, principal_of(info), node_pk(id, "PlanRun"), "resume"
            )
        )

    @strawberry.mutation(
        description="Run a plan now (a MANUAL run, scheduled for this moment), without "
        "waiting for its time. Allowed on a READY plan (a one shot: it runs now instead of at "
        "its time, and is ARCHIVED as after its scheduled run) and on an ACTIVE or PAUSED "
        "recurrence (an extra run; the schedule and its run count do not change). A DRAFT "
        "(make it ready first), ARCHIVED (reopen it) or ERROR plan, or one with a run still in "
        "progress, gives INVALID_STATE or RUNNING in userErrors. Follow the run with "
        "`planRun(id) { progress }` or the `runProgress` subscription. Requires plan.run and "
        "authorship (or manage_others).",
        extensions=requires(Perm.PLAN_RUN),
    )
    async def run_plan_now(self, info: Info, id: IdArg) -> PlanRunPayload | None:
        return _run_payload(
            await resolve.run_now(info.context, principal_of(info), node_pk(id, "Plan"))
        )

    @strawberry.mutation(
        description="Send the plan's message to 1-20 test addresses, as a TEST run kept apart "
        "from real runs and reports. Requires plan.run.",
        extensions=requires(Perm.PLAN_RUN),
    )
    async def test_send_plan(
        self,
        info: Info,
        id: IdArg,
        addresses: Annotated[
            list[str], strawberry.argument(description="Email addresses, phones or push tokens.")
        ],
    ) -> PlanRunPayload | None:
        return _run_payload(
            await resolve.test_send(
                info.context, principal_of(info), node_pk(id, "Plan"), addresses
            )
        )


@strawberry.type(description="Plan subscriptions.")
class PlansSubscription:
    @strawberry.subscription(
        description="A run's progress, pushed when it changes until the run ends (then the "
        "subscription completes). NOT_FOUND like `planRun`.",
        extensions=requires(Perm.PLAN_READ),
    )
    async def run_progress(
        self, info: Info, run_id: RunIdArg
    ) -> AsyncGenerator[RunProgress | None, None]:
        ctx = info.context

        async def recheck() -> Principal:
            return await reauthenticate(ctx.settings, ctx.authorization, Perm.PLAN_READ)

        async for progress in resolve.watch_progress(
            principal_of(info), node_pk(run_id, "PlanRun"), recheck
        ):
            yield RunProgress.from_progress(progress)
