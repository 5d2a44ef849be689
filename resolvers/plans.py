"""Plans and plan runs: load what the caller may see, check who may change it, call the
engine (`actors.plans`), audit, and turn `PlanError`s into userErrors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from actors import plans as engine
from actors.plans import PlanError, RunProgress
from actors.schedule import InvalidSchedule, occurrences, parse_schedule, preview, to_utc
from models import ContactDatabase, DndPolicy, Plan, PlanRun, RunConsumer, Segment
from models.enums import PlanState, RunTrigger
from permissions.audit import record_audit
from permissions.errors import BadArgument, Forbidden, InputError, InvalidInput, NotFound
from permissions.names import Perm
from permissions.principal import Principal
from permissions.rules import can_edit, can_see_database, database_q, may, owns
from resolvers.context import RequestContext, audit_row
from resolvers.outcome import Outcome, with_outcome
from resolvers.paging import Page, SortKey, keyset_page

T = TypeVar("T")

FINISHED_RUN_STATES = frozenset({"completed", "failed", "cancelled"})
POLL_SECONDS = 0.5  # how often a runProgress subscription reads the run
MAX_NAME = 200
MAX_CALENDAR_DAYS = 400
PLANNED_STATES = (PlanState.READY, PlanState.ACTIVE)

# engine option keys -> GraphQL input field names (for userErrors paths)
_OPTION_NAMES = {
    "list_generation": "listGeneration",
    "if_short": "ifNotReached",
    "top_up_percent": "topUpPercent",
    "control_percent": "controlGroupPercent",
    "max_rate": "maxSendRate",
    "batch_size": "batchSize",
    "max_error_rate": "maxErrorRate",
}


@dataclass(frozen=True)
class PreviewResult:
    """Next run times and total of a schedule, or why it is refused."""

    next: list[datetime] = field(default_factory=list)
    total: int = 0
    errors: list[InputError] = field(default_factory=list)


@dataclass(frozen=True)
class CalendarEntryData:
    """A stored run (`run`) or a future occurrence (`run` None) of `plan` at `at`."""

    at: datetime
    plan: Plan
    run: PlanRun | None


@dataclass
class CalendarBucketData:
    """The entries of one day, week or month."""

    start: date
    end: date
    entries: list[CalendarEntryData] = field(default_factory=list)


# --- errors -----------------------------------------------------------------------------------


def graphql_path(path: str, consumer_kinds: Sequence[str] = ()) -> tuple[str, ...]:
    """An engine error path ("options.if_short", "consumers[0].subject") as GraphQL input
    field names ("options", "ifNotReached"; "consumers", "0", "delivery", "subject")."""
    parts = re.findall(r"[^.\[\]]+", path)
    if parts[:1] == ["options"] and len(parts) > 1:
        parts[1] = _OPTION_NAMES.get(parts[1], parts[1])
        if parts[1:3] == ["listGeneration", "days"]:
            parts[2] = "daysBefore"
    if parts[:1] == ["consumers"] and len(parts) > 2 and parts[1].isdigit():
        index = int(parts[1])
        if index < len(consumer_kinds):
            parts.insert(2, consumer_kinds[index])
    return tuple(parts)


def input_error(error: PlanError, consumer_kinds: Sequence[str] = ()) -> InputError:
    """A PlanError as a userError (codes in upper case)."""
    return InputError(graphql_path(error.path, consumer_kinds), error.message, error.code.upper())


async def _engine(call: Awaitable[T], consumer_kinds: Sequence[str] = ()) -> T:
    try:
        return await call
    except PlanError as error:
        raise InvalidInput([input_error(error, consumer_kinds)]) from error


# --- loading ----------------------------------------------------------------------------------


def _visible_plans(principal: Principal):
    return Plan.filter(database_q(principal), deleted_at=None)


def _visible_runs(principal: Principal):
    return PlanRun.filter(database_q(principal, "plan__database_id"), plan__deleted_at=None)


async def plans_by_ids(principal: Principal, ids: list[int | None]) -> list[Plan | None]:
    """Plans by id in order, None for those missing or not visible."""
    if not may(principal, Perm.PLAN_READ):
        return [None] * len(ids)
    wanted = [i for i in ids if i is not None]
    rows = {p.id: p for p in await _visible_plans(principal).filter(id__in=wanted)}
    return [rows.get(i) if i is not None else None for i in ids]


async def runs_by_ids(principal: Principal, ids: list[int | None]) -> list[PlanRun | None]:
    """Runs by id in order, None for those missing or not visible."""
    if not may(principal, Perm.PLAN_READ):
        return [None] * len(ids)
    wanted = [i for i in ids if i is not None]
    rows = {r.id: r for r in await _visible_runs(principal).filter(id__in=wanted)}
    return [rows.get(i) if i is not None else None for i in ids]


async def get_plan(principal: Principal, plan_id: int) -> Plan:
    """A plan the caller may see; NOT_FOUND otherwise."""
    row = await _visible_plans(principal).filter(id=plan_id).first()
    if row is None:
        raise NotFound("Plan", plan_id)
    return row


async def get_run(principal: Principal, run_id: int) -> PlanRun:
    """A run the caller may see; NOT_FOUND otherwise."""
    row = await _visible_runs(principal).filter(id=run_id).first()
    if row is None:
        raise NotFound("PlanRun", run_id)
    return row


async def get_database(principal: Principal, database_id: int) -> ContactDatabase:
    """A database the caller sees; NOT_FOUND otherwise."""
    visible = can_see_database(principal, database_id)
    row = await ContactDatabase.get_or_none(id=database_id) if visible else None
    if row is None:
        raise NotFound("Database", database_id)
    return row


async def _by_id(model: Any, ids: list[int], **filters: Any) -> list[Any]:
    rows = {r.id: r for r in await model.filter(id__in=ids, **filters)}
    return [rows.get(i) for i in ids]


async def load_plan(ctx: RequestContext, plan_id: int) -> Plan | None:
    """A plan by id (batched per request; the caller already sees its run)."""

    async def load(ids: list[int]) -> list[Plan | None]:
        return await _by_id(Plan, ids, deleted_at=None)

    return await ctx.loader("plans_by_id", load).load(plan_id)


async def load_run_consumers(ctx: RequestContext, run_id: int) -> list[RunConsumer]:
    """What each consumer of the run did (batched per request)."""

    async def load(ids: list[int]) -> list[list[RunConsumer]]:
        found: dict[int, list[RunConsumer]] = {i: [] for i in ids}
        for row in await RunConsumer.filter(run_id__in=ids).order_by("run_id", "position"):
            found[row.run_id].append(row)  # type: ignore[attr-defined]
        return [found[i] for i in ids]

    return await ctx.loader("run_consumers", load).load(run_id)


async def load_segment_of_plan(ctx: RequestContext, plan: Plan) -> Segment | None:
    """The plan's segment, deleted or not (a plan keeps working on a deleted segment)."""

    async def load(ids: list[int]) -> list[Segment | None]:
        return await _by_id(Segment, ids)

    segment = await ctx.loader("plan_segments", load).load(plan.segment_id)  # type: ignore[attr-defined]
    return segment if segment and segment.database_id == plan.database_id else None  # type: ignore[attr-defined]


async def load_dnd_policy_of_plan(ctx: RequestContext, plan: Plan) -> DndPolicy | None:
    """The plan's own DND policy, if it has one that still exists."""
    if plan.dnd_policy_id is None:  # type: ignore[attr-defined]
        return None

    async def load(ids: list[int]) -> list[DndPolicy | None]:
        return await _by_id(DndPolicy, ids, deleted_at=None)

    return await ctx.loader("plan_dnd_policies", load).load(plan.dnd_policy_id)  # type: ignore[attr-defined]


async def list_plans(
    principal: Principal,
    *,
    database_id: int | None,
    states: list[str] | None,
    name_contains: str | None,
    segment_id: int | None,
    author_id: int | None,
    order: tuple[str, bool] | None,
    first: int | None,
    after: str | None,
) -> Page[Plan]:
    """A keyset page of the plans the caller may see, filtered."""
    rows = _visible_plans(principal)
    if database_id is not None:
        rows = rows.filter(database_id=(await get_database(principal, database_id)).id)
    if states:
        rows = rows.filter(state__in=states)
    if name_contains:
        rows = rows.filter(name__icontains=name_contains)
    if segment_id is not None:
        rows = rows.filter(segment_id=segment_id)
    if author_id is not None:
        rows = rows.filter(author_id=author_id)
    sort_field, descending = order or ("created_at", True)
    return await keyset_page(rows, [SortKey(sort_field, descending)], first=first, after=after)


async def runs_page(
    plan_id: int, first: int | None, after: str | None, include_tests: bool
) -> Page[PlanRun]:
    """A keyset page of a (visible) plan's runs, newest first."""
    rows = PlanRun.filter(plan_id=plan_id)
    if not include_tests:
        rows = rows.exclude(trigger=RunTrigger.TEST)
    return await keyset_page(
        rows, [SortKey("scheduled_for", descending=True)], first=first, after=after
    )


async def load_progress(ctx: RequestContext, run_id: int) -> RunProgress | None:
    """The run's progress now (batched per request: one statement for a page of runs)."""

    async def load(ids: list[int]) -> list[RunProgress | None]:
        found = await engine.runs_progress(ids)
        return [found.get(i) for i in ids]

    return await ctx.loader("run_progress", load).load(run_id)


async def watch_progress(
    principal: Principal, run_id: int, recheck: Callable[[], Awaitable[Principal]]
) -> AsyncIterator[RunProgress]:
    """The run's progress each time it changes, until the run is over. Before every change
    after the first, `recheck` gives the caller's principal again (it raises once the
    credentials or the permission are gone) and the run must still be visible to it."""
    run = await get_run(principal, run_id)
    last: RunProgress | None = None
    while True:
        progress = await engine.run_progress(run.id)
        if progress != last:
            if last is not None:
                await get_run(await recheck(), run_id)
            yield progress
            last = progress
        if progress.state in FINISHED_RUN_STATES:
            return
        await asyncio.sleep(POLL_SECONDS)


# --- schedules --------------------------------------------------------------------------------


def _preview(schedule: Any, timezone: str) -> PreviewResult:
    try:
        parsed = parse_schedule(schedule, default_timezone=timezone)
    except InvalidSchedule as error:
        return PreviewResult(
            errors=[
                InputError(graphql_path(e.path), e.message, e.code.upper()) for e in error.errors
            ]
        )
    found = preview(parsed, datetime.now(UTC))
    return PreviewResult(next=found.next, total=found.total)


def preview_stored(schedule: Any) -> PreviewResult:
    """Preview of a saved plan's schedule (stored normalised, with its time zone)."""
    return _preview(schedule, "UTC")


async def preview_schedule(
    principal: Principal, schedule: dict[str, Any], database_id: int | None
) -> PreviewResult:
    """Preview of an unsaved schedule; the database gives the default time zone."""
    timezone = "UTC"
    if database_id is not None:
        timezone = (await get_database(principal, database_id)).timezone
    return _preview(schedule, timezone)


# --- calendar ---------------------------------------------------------------------------------


def _bucket_start(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: date, grain: str) -> date:
    if grain == "week":
        return start + timedelta(weeks=1)
    if grain == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def _future_times(plan: Plan, timezone: str, until: datetime) -> list[datetime]:
    """The plan's next instance and, for a recurrence, the occurrences after it."""
    if plan.next_run_at is None:
        return []
    times = [plan.next_run_at]
    if plan.state == PlanState.ACTIVE:
        schedule = parse_schedule(plan.schedule, default_timezone=timezone)
        times += occurrences(schedule, plan.next_run_at)  # at most 365, one pass
    return [t for t in times if t < until]


async def calendar(
    principal: Principal, database_id: int, first_day: date, last_day: date, grain: str
) -> tuple[str, list[CalendarBucketData]]:
    """Buckets from `first_day` to `last_day` (local days of the database) with the runs
    stored in them and the future occurrences of ready and active plans."""
    database = await get_database(principal, database_id)
    if last_day < first_day or (last_day - first_day).days >= MAX_CALENDAR_DAYS:
        raise BadArgument(f"`to` must be on or after `from`, at most {MAX_CALENDAR_DAYS} days.")
    zone = ZoneInfo(database.timezone)
    since = to_utc(first_day, time(0), zone)
    until = to_utc(last_day + timedelta(days=1), time(0), zone)
    runs = await (
        PlanRun.filter(
            plan__database_id=database.id,
            plan__deleted_at=None,
            scheduled_for__gte=since,
            scheduled_for__lt=until,
        )
        .exclude(trigger=RunTrigger.TEST)
        .order_by("scheduled_for", "id")
    )
    planned = await Plan.filter(
        database_id=database.id,
        deleted_at=None,
        state__in=PLANNED_STATES,
        next_run_at__lt=until,
    )
    plan_ids = {r.plan_id for r in runs} - {p.id for p in planned}  # type: ignore[attr-defined]
    plans = {p.id: p for p in planned} | {p.id: p for p in await Plan.filter(id__in=list(plan_ids))}
    entries = [CalendarEntryData(r.scheduled_for, plans[r.plan_id], r) for r in runs]  # type: ignore[attr-defined]
    stored = {(r.plan_id, r.scheduled_for) for r in runs}  # type: ignore[attr-defined]
    for plan in planned:
        for moment in _future_times(plan, database.timezone, until):
            if moment >= since and (plan.id, moment) not in stored:
                entries.append(CalendarEntryData(moment, plan, None))
    entries.sort(key=lambda e: (e.at, e.plan.id))
    buckets: dict[date, CalendarBucketData] = {}
    start = _bucket_start(first_day, grain)
    while start <= last_day:
        end = _next_bucket(start, grain)
        buckets[start] = CalendarBucketData(start, end)
        start = end
    for entry in entries:
        buckets[_bucket_start(entry.at.astimezone(zone).date(), grain)].entries.append(entry)
    return database.timezone, list(buckets.values())


# --- mutations --------------------------------------------------------------------------------


def _snapshot(plan: Plan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "description": plan.description,
        "state": plan.state,
        "segment_id": plan.segment_id,  # type: ignore[attr-defined]
        "dnd_policy_id": plan.dnd_policy_id,  # type: ignore[attr-defined]
        "schedule": plan.schedule,
        "options": plan.options,
        "consumers": plan.consumers,
        "version": plan.version,
    }


def _check_name(name: str | None) -> list[InputError]:
    if name is not None and not 1 <= len(name.strip()) <= MAX_NAME:
        return [InputError(("name",), f"Name must have 1-{MAX_NAME} characters.", "INVALID")]
    return []


@with_outcome
async def create_plan(
    ctx: RequestContext,
    principal: Principal,
    *,
    database_id: int,
    segment_id: int,
    name: str,
    description: str,
    schedule: dict[str, Any],
    options: dict[str, Any],
    consumers: list[dict[str, Any]],
    dnd_policy_id: int | None,
    consumer_kinds: Sequence[str],
) -> Plan:
    """A new draft plan on a segment of a database the caller sees."""
    database = await get_database(principal, database_id)
    errors = _check_name(name)
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        plan = await _engine(
            engine.create_plan(
                author_id=principal.user_id,
                database_id=database.id,
                name=name,
                segment_id=segment_id,
                schedule=schedule,
                options=options,
                consumers=consumers,
                dnd_policy_id=dnd_policy_id,
                description=description,
            ),
            consumer_kinds,
        )
        await audit_row(ctx, principal, "create", "plan", plan, after=_snapshot(plan))
    return plan


async def _plan_to_change(principal: Principal, plan_id: int) -> Plan:
    plan = await get_plan(principal, plan_id)
    if not can_edit(principal, plan):
        raise Forbidden("You may not change this plan.")
    return plan


def _may_run(principal: Principal, plan: Plan) -> bool:
    """Run control (ready, stop, start, test, cancel, resume) on a plan the caller sees:
    its author, or anyone with manage_others."""
    return owns(principal, plan) or may(principal, Perm.MANAGE_OTHERS)


async def update_plan(
    ctx: RequestContext,
    principal: Principal,
    plan_id: int,
    version: int,
    changes: dict[str, Any],
    consumer_kinds: Sequence[str],
) -> Outcome[Plan]:
    """Change a plan; a stale version gives CONFLICT with the current plan."""
    plan = await _plan_to_change(principal, plan_id)
    errors = _check_name(changes.get("name"))
    if errors:
        return Outcome(errors=errors)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    try:
        async with in_transaction():
            updated = await engine.update_plan(plan.id, version, **changes)
            await audit_row(
                ctx,
                principal,
                "update",
                "plan",
                updated,
                before=_snapshot(plan),
                after=_snapshot(updated),
            )
    except PlanError as error:
        current = await Plan.get_or_none(id=plan.id, deleted_at=None)
        return Outcome(value=current, errors=[input_error(error, consumer_kinds)])
    return Outcome(value=updated)


@with_outcome
async def transition(ctx: RequestContext, principal: Principal, plan_id: int, action: str) -> Plan:
    """ready / reopen / stop / start a plan the caller may change."""
    if action == "reopen":
        plan = await _plan_to_change(principal, plan_id)
    else:
        plan = await get_plan(principal, plan_id)
        if not _may_run(principal, plan):
            raise Forbidden("You may not start or stop this plan.")
    calls = {
        "ready": lambda: engine.mark_ready(plan.id),
        "reopen": lambda: engine.reopen_plan(
            plan.id, is_admin=may(principal, Perm.PLAN_REOPEN_ARCHIVED)
        ),
        "stop": lambda: engine.stop_recurrence(plan.id),
        "start": lambda: engine.start_recurrence(plan.id),
    }
    async with in_transaction():
        changed = await _engine(calls[action]())
        await audit_row(
            ctx, principal, action, "plan", changed, before={"state": plan.state}, after={
                "state": changed.state, "next_run_at": changed.next_run_at}
        )  # fmt: skip
    return changed


@with_outcome
async def delete_plan(ctx: RequestContext, principal: Principal, plan_id: int) -> bool:
    """Soft-delete a plan the caller may change."""
    plan = await _plan_to_change(principal, plan_id)
    async with in_transaction():
        await _engine(
            engine.delete_plan(plan.id, is_admin=may(principal, Perm.PLAN_REOPEN_ARCHIVED))
        )
        await audit_row(ctx, principal, "delete", "plan", plan, before=_snapshot(plan))
    return True


@with_outcome
async def control_run(
    ctx: RequestContext, principal: Principal, run_id: int, action: str
) -> PlanRun:
    """Cancel or resume a run of a plan the caller may run."""
    run = await get_run(principal, run_id)
    plan = await Plan.get(id=run.plan_id)  # type: ignore[attr-defined]
    if not _may_run(principal, plan):
        raise Forbidden("You may not control this plan's runs.")
    async with in_transaction():
        if action == "cancel":
            state = await _engine(engine.cancel_run(run.id))
            if state == run.state == "cancelled":
                return run  # cancelling twice changes nothing
            if state != "cancelled":
                raise InvalidInput(
                    [InputError(("id",), f"The run is already {state}.", "INVALID_STATE")]
                )
        else:
            state = await _engine(engine.resume_run(run.id))
        await record_audit(
            principal,
            action,
            "plan_run",
            run.id,
            database_id=plan.database_id,  # type: ignore[attr-defined]
            before={"state": run.state},
            after={"state": state},
            request_id=ctx.request_id,
        )
    return await PlanRun.get(id=run.id)


@with_outcome
async def test_send(
    ctx: RequestContext, principal: Principal, plan_id: int, addresses: list[str]
) -> PlanRun:
    """A test run of the plan's delivery to `addresses`."""
    plan = await get_plan(principal, plan_id)
    if not _may_run(principal, plan):
        raise Forbidden("You may not test-send this plan.")
    async with in_transaction():
        run_id = await _engine(engine.start_test_send(plan.id, addresses))
        await audit_row(
            ctx,
            principal,
            "test_send",
            "plan",
            plan,
            after={"run_id": run_id, "addresses": addresses},
        )
    return await PlanRun.get(id=run_id)


@with_outcome
async def run_now(ctx: RequestContext, principal: Principal, plan_id: int) -> PlanRun:
    """A manual run of a plan the caller may run, enqueued once the run row is committed."""
    plan = await get_plan(principal, plan_id)
    if not _may_run(principal, plan):
        raise Forbidden("You may not run this plan.")
    async with in_transaction():
        run_id = await _engine(engine.create_manual_run(plan.id))
        await audit_row(
            ctx,
            principal,
            "run_now",
            "plan",
            plan,
            before={"state": plan.state},
            after={"run_id": run_id},
        )
    await engine.enqueue_run(run_id, ctx.settings.redis_url)
    return await PlanRun.get(id=run_id)
