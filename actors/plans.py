"""Plan life cycle and run control: the rules the GraphQL resolvers call.

States of a plan: `draft` (being edited) -> `ready` (a one-shot plan waiting for its time) or
`active` (a recurrence master that is started) -> `archived` (ran, or the recurrence ended);
`paused` (a stopped recurrence); `error` (a run failed its contacts number). A ready plan may
be reopened before it runs; an archived plan may be reopened or deleted by admins only. Of a
recurrence only the next instance exists (`next_run_at`); runs read the plan when they list,
so editing the master changes every future instance.

Every function raises `PlanError(code, message, path)` on a rule it refuses, changing nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from actors.broker import setup_broker
from actors.dnd import InvalidDndRules, parse_rules
from actors.plan_options import InvalidPlan, delivery_consumer, parse_consumers, parse_options
from actors.schedule import InvalidSchedule, next_occurrence, parse_schedule
from actors.tick import enqueue_runs, insert_run
from models import DndPolicy, Plan, Segment
from models.catalog import ContactDatabase

log = logging.getLogger(__name__)

EDITABLE = ("draft", "active", "paused")  # a recurrence master is edited in place
RUNNABLE_NOW = ("ready", "active", "paused")  # saved and checked (mark_ready), not over
OPEN_RUN_STATES = ("pending", "evaluating", "delivering", "paused")
MAX_TEST_ADDRESSES = 20


class PlanError(ValueError):
    """A refused plan operation: a stable code, a message and where (`path`)."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.code = code
        self.message = message
        self.path = path


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands: its state, funnel and delivery counts (readable at any time)."""

    run_id: int
    state: str
    trigger: str
    funnel: dict[str, int]
    to_send: int
    sent: int
    failed: int
    pending: int
    batches: int
    batches_done: int
    error: str | None


async def validate_plan(
    database_id: int,
    *,
    segment_id: int,
    schedule: Any,
    options: Any,
    consumers: Any,
    dnd_policy_id: int | None,
    now: datetime | None = None,
    kept_segment: bool = False,
    kept_exclusion_segment_id: int | None = None,
) -> dict[str, Any]:
    """Check a plan's parts; return the normalised `schedule`, `options`, `consumers`.

    A segment deleted since the plan chose it stays valid (`kept_segment`): the plan keeps
    working on its stored definition; a deleted segment cannot be newly chosen. The same holds
    for the exclusion segment of the options (`kept_exclusion_segment_id`: the plan's current one).
    """
    database = await ContactDatabase.get_or_none(id=database_id)
    if database is None:
        raise PlanError("not_found", f"no contact database {database_id}", "databaseId")
    segments = Segment.filter(id=segment_id, database_id=database_id)
    if not kept_segment:
        segments = segments.filter(deleted_at=None)
    if not await segments.exists():
        raise PlanError("not_found", f"no segment {segment_id} in this database", "segmentId")
    try:
        parsed = parse_schedule(schedule, default_timezone=database.timezone, now=now)
    except InvalidSchedule as error:
        first = error.errors[0]
        raise PlanError(first.code, first.message, first.path) from error
    try:
        parsed_options = parse_options(options)
        parse_consumers(consumers)
    except InvalidPlan as error:
        first = error.errors[0]
        raise PlanError(first.code, first.message, first.path) from error
    exclusion_id = parsed_options.exclusion_segment_id
    if exclusion_id is not None:
        exclusions = Segment.filter(id=exclusion_id, database_id=database_id)
        if exclusion_id != kept_exclusion_segment_id:
            exclusions = exclusions.filter(deleted_at=None)
        if not await exclusions.exists():
            raise PlanError(
                "not_found",
                f"no segment {exclusion_id} in this database",
                "options.exclusion_segment_id",
            )
    if dnd_policy_id is not None:
        policy = await DndPolicy.get_or_none(id=dnd_policy_id, deleted_at=None)
        if policy is None or policy.database_id not in (None, database_id):  # type: ignore[attr-defined]
            raise PlanError("not_found", f"no DND policy {dnd_policy_id}", "dndPolicyId")
    return {"schedule": parsed.to_json(), "options": options or {}, "consumers": consumers or []}


async def create_plan(
    *,
    author_id: int,
    database_id: int,
    name: str,
    segment_id: int,
    schedule: Any,
    options: Any = None,
    consumers: Any = None,
    dnd_policy_id: int | None = None,
    description: str = "",
) -> Plan:
    """A new plan in `draft`."""
    if not name.strip():
        raise PlanError("required", "a plan needs a name", "name")
    parts = await validate_plan(
        database_id,
        segment_id=segment_id,
        schedule=schedule,
        options=options,
        consumers=consumers,
        dnd_policy_id=dnd_policy_id,
    )
    return await Plan.create(
        database_id=database_id,
        segment_id=segment_id,
        author_id=author_id,
        name=name.strip(),
        description=description,
        dnd_policy_id=dnd_policy_id,
        **parts,
    )


async def update_plan(plan_id: int, version: int, **changes: Any) -> Plan:
    """Change a draft plan or a recurrence master (future instances follow); `version` must
    be the plan's current one (optimistic concurrency)."""
    plan = await _plan(plan_id)
    if plan.state not in EDITABLE:
        raise PlanError("not_editable", f"a {plan.state} plan cannot be edited; reopen it first")
    allowed = {"name", "description", "segment_id", "schedule", "options", "consumers",
               "dnd_policy_id"}  # fmt: skip
    unknown = set(changes) - allowed
    if unknown:
        raise PlanError("invalid", f"unknown fields {sorted(unknown)}")
    merged = {
        "segment_id": plan.segment_id,  # type: ignore[attr-defined]
        "schedule": plan.schedule,
        "options": plan.options,
        "consumers": plan.consumers,
        "dnd_policy_id": plan.dnd_policy_id,  # type: ignore[attr-defined]
    } | {k: v for k, v in changes.items() if k not in ("name", "description")}
    now = datetime.now(UTC)
    parts = await validate_plan(
        plan.database_id,  # type: ignore[attr-defined]
        now=now if plan.state != "draft" else None,
        kept_segment=merged["segment_id"] == plan.segment_id,  # type: ignore[attr-defined]
        kept_exclusion_segment_id=_exclusion_segment_id(plan.options),
        **merged,
    )
    values = merged | parts | {k: v for k, v in changes.items() if k in ("name", "description")}
    if plan.state in ("active", "paused") and "schedule" in changes:
        values["next_run_at"] = _next_run(parts["schedule"], now)
    updated = await Plan.filter(id=plan_id, version=version).update(
        version=version + 1, updated_at=now, **values
    )
    if not updated:
        raise PlanError("conflict", "the plan was changed by someone else; reload it", "version")
    return await _plan(plan_id)


async def mark_ready(plan_id: int, now: datetime | None = None) -> Plan:
    """A draft becomes `ready` (one shot) or `active` (recurrence): its next run is set."""
    now = now or datetime.now(UTC)
    plan = await _plan(plan_id)
    if plan.state not in ("draft", "error"):
        raise PlanError("invalid_state", f"only a draft plan can be made ready, not {plan.state}")
    parts = await validate_plan(
        plan.database_id,  # type: ignore[attr-defined]
        segment_id=plan.segment_id,  # type: ignore[attr-defined]
        schedule=plan.schedule,
        options=plan.options,
        consumers=plan.consumers,
        dnd_policy_id=plan.dnd_policy_id,  # type: ignore[attr-defined]
        now=now,
        kept_segment=True,
        kept_exclusion_segment_id=_exclusion_segment_id(plan.options),
    )
    state = "ready" if parts["schedule"]["kind"] == "once" else "active"
    await _transition(plan, state, next_run_at=_next_run(parts["schedule"], now))
    return await _plan(plan_id)


async def reopen_plan(plan_id: int, *, is_admin: bool = False) -> Plan:
    """Back to `draft`: a ready plan before it runs, a plan in error, an archived one (admins)."""
    plan = await _plan(plan_id)
    if plan.state == "archived" and not is_admin:
        raise PlanError("forbidden", "only an admin can reopen an archived plan")
    if plan.state not in ("ready", "archived", "error", "paused"):
        raise PlanError("invalid_state", f"a {plan.state} plan cannot be reopened")
    if await _open_runs(plan_id):
        raise PlanError("running", "the plan has a run in progress; cancel it first")
    await _transition(plan, "draft", next_run_at=None)
    return await _plan(plan_id)


async def stop_recurrence(plan_id: int) -> Plan:
    """Stop an active recurrence: no new instance is created (`paused`)."""
    plan = await _plan(plan_id)
    if plan.state != "active":
        raise PlanError(
            "invalid_state", f"only an active recurrence can be stopped, not {plan.state}"
        )
    await _transition(plan, "paused", next_run_at=None)
    return await _plan(plan_id)


async def start_recurrence(plan_id: int, now: datetime | None = None) -> Plan:
    """Start a stopped recurrence again from its next occurrence after now."""
    now = now or datetime.now(UTC)
    plan = await _plan(plan_id)
    if plan.state != "paused":
        raise PlanError("invalid_state", f"only a stopped recurrence can start, not {plan.state}")
    following = _next_run(plan.schedule, now)
    await _transition(plan, "active" if following else "archived", next_run_at=following)
    return await _plan(plan_id)


async def delete_plan(plan_id: int, *, is_admin: bool = False) -> None:
    """Soft-delete a plan with no run in progress; an archived one only by admins."""
    plan = await _plan(plan_id)
    if plan.state == "archived" and not is_admin:
        raise PlanError("forbidden", "only an admin can delete an archived plan")
    if await _open_runs(plan_id):
        raise PlanError("running", "the plan has a run in progress; cancel it first")
    await Plan.filter(id=plan_id).update(deleted_at=datetime.now(UTC), next_run_at=None)


async def cancel_run(run_id: int) -> str:
    """Cancel a run that has not finished: nothing more is sent. Returns the run's state."""
    async with in_transaction() as tx:
        rows = await tx.execute_query_dict(
            "UPDATE plan_run SET state = 'cancelled', finished_at = now()"
            " WHERE id = $1 AND state = ANY($2::varchar[]) RETURNING state",
            [run_id, list(OPEN_RUN_STATES)],
        )
        if not rows:
            return await _run_state(run_id)
        await tx.execute_query(
            "UPDATE delivery_batch SET status = 'cancelled' WHERE run_id = $1"
            " AND status = 'pending'",
            [run_id],
        )
    return "cancelled"


async def resume_run(run_id: int) -> str:
    """Resume a paused run: the tick enqueues its pending batches again."""
    rows = await connections.get("default").execute_query_dict(
        "UPDATE plan_run SET state = 'delivering', error = NULL, heartbeat_at = NULL"
        " WHERE id = $1 AND state = 'paused' RETURNING state",
        [run_id],
    )
    if not rows:
        raise PlanError("invalid_state", f"run {run_id} is not paused")
    return "delivering"


async def run_progress(run_id: int) -> RunProgress:
    """The run's state, funnel and delivery progress, from its batches (cheap at any size)."""
    found = await runs_progress([run_id])
    if run_id not in found:
        raise PlanError("not_found", f"no run {run_id}")
    return found[run_id]


async def runs_progress(run_ids: Iterable[int]) -> dict[int, RunProgress]:
    """The progress of several runs in one statement (runs that do not exist are left out)."""
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    rows = await connections.get("default").execute_query_dict(
        "SELECT r.id, r.state, r.trigger, r.funnel, r.error,"
        " coalesce(sum(b.size), 0) AS to_send,"
        " coalesce(sum(b.size) FILTER (WHERE b.status = 'sent'), 0) AS sent,"
        " coalesce(sum(b.size) FILTER (WHERE b.status = 'failed'), 0) AS failed,"
        " coalesce(sum(b.size) FILTER (WHERE b.status = 'pending'), 0) AS pending,"
        " count(b.id) AS batches,"
        " count(b.id) FILTER (WHERE b.status IN ('sent', 'failed')) AS batches_done"
        " FROM plan_run r LEFT JOIN delivery_batch b ON b.run_id = r.id"
        " WHERE r.id = ANY($1::bigint[]) GROUP BY r.id",
        [ids],
    )
    return {row["id"]: _progress(row) for row in rows}


def _progress(row: dict[str, Any]) -> RunProgress:
    funnel = json.loads(row["funnel"]) if isinstance(row["funnel"], str) else row["funnel"]
    return RunProgress(
        run_id=row["id"],
        state=row["state"],
        trigger=row["trigger"],
        funnel=funnel or {},
        to_send=int(row["to_send"]),
        sent=int(row["sent"]),
        failed=int(row["failed"]),
        pending=int(row["pending"]),
        batches=row["batches"],
        batches_done=row["batches_done"],
        error=row["error"],
    )


async def create_manual_run(plan_id: int) -> int:
    """The run of a "run now" (trigger `manual`, scheduled for now); returns its id.

    Only a saved plan that is not over may run now: READY (a one shot runs now instead of at
    its time, so the plan is archived as after its scheduled run), ACTIVE or PAUSED (an extra
    run; the schedule and its count of runs are unchanged). Not a DRAFT (not checked yet),
    ARCHIVED (it ran: reopen it) or ERROR plan, nor one with a run still in progress (two
    lists of the same plan at once would compete for the same contacts). The plan's row is
    locked, so two concurrent calls make one run. Call it in a transaction, and `enqueue_run`
    after the commit (`run_now` does both).
    """
    async with in_transaction() as tx:
        rows = await tx.execute_query_dict(
            "SELECT state FROM plan WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", [plan_id]
        )
        if not rows:
            raise PlanError("not_found", f"no plan {plan_id}")
        state = rows[0]["state"]
        if state not in RUNNABLE_NOW:
            raise PlanError("invalid_state", _NOT_RUNNABLE.get(state, f"a {state} plan cannot run"))
        if await _open_runs(plan_id, tx):
            raise PlanError("running", "the plan has a run in progress; wait or cancel it first")
        run_id = await insert_run(tx, plan_id, "manual", None)
        if run_id is None:  # the same instant as another run of the plan: practically never
            raise PlanError("conflict", "the plan was started at this very moment; retry")
        if state == "ready":
            await tx.execute_query(
                "UPDATE plan SET state = 'archived', next_run_at = NULL, version = version + 1,"
                " updated_at = now() WHERE id = $1",
                [plan_id],
            )
    return run_id


_NOT_RUNNABLE = {
    "draft": "a draft plan cannot run; make it ready first",
    "archived": "an archived plan already ran; reopen it to run it again",
    "error": "a plan in error cannot run; reopen it and fix it first",
}


async def enqueue_run(run_id: int, redis_url: str | None = None) -> None:
    """Enqueue `run_plan` for a committed run (on the broker of `redis_url` if given).

    Best effort: if the broker cannot be reached the run stays `pending` in the database and
    the scheduler tick picks it up as a lost run.
    """
    try:
        if redis_url:
            setup_broker(redis_url)
        await enqueue_runs([run_id])
    except Exception:  # the database is the truth: the tick recovers the run
        log.warning(
            "run %s not enqueued; the scheduler tick will pick it up", run_id, exc_info=True
        )


async def run_now(plan_id: int, redis_url: str | None = None) -> int:
    """Run a plan now (`create_manual_run`, committed, then enqueued); returns the run's id."""
    run_id = await create_manual_run(plan_id)
    await enqueue_run(run_id, redis_url)
    return run_id


async def start_test_send(plan_id: int, addresses: list[str]) -> int:
    """A test send of the plan's message to `addresses`, recorded apart (trigger `test`).

    Test recipients get negative contact ids, so they never count for DND or reports.
    """
    plan = await _plan(plan_id)
    delivery = delivery_consumer(parse_consumers(plan.consumers))
    if delivery is None:
        raise PlanError("no_delivery", "the plan has no delivery to test", "consumers")
    cleaned = [a.strip() for a in addresses if isinstance(a, str) and a.strip()]
    if not cleaned or len(cleaned) > MAX_TEST_ADDRESSES:
        raise PlanError("invalid", f"give 1 to {MAX_TEST_ADDRESSES} test addresses", "addresses")
    for i, address in enumerate(cleaned):
        if delivery.channel == "email" and "@" not in address:
            raise PlanError("invalid", f"not an email address: {address!r}", f"addresses[{i}]")
    async with in_transaction() as tx:
        rows = await tx.execute_query_dict(
            "INSERT INTO plan_run (plan_id, trigger, scheduled_for, as_of, state, funnel,"
            " created_at, started_at, listed_at, heartbeat_at)"
            " VALUES ($1, 'test', clock_timestamp(), now(), 'delivering', $2::jsonb, now(), now(),"
            " now(), NULL) RETURNING id",  # no heartbeat yet: the next tick enqueues it
            [plan_id, json.dumps({"pending": len(cleaned), "segment": len(cleaned)})],
        )
        run_id = rows[0]["id"]
        await tx.execute_query(
            "INSERT INTO recipient (run_id, contact_id, address, status, batch_no)"
            " SELECT $1, -n, a, 'pending', 0 FROM unnest($2::varchar[]) WITH ORDINALITY t(a, n)",
            [run_id, cleaned],
        )
        await tx.execute_query(
            "INSERT INTO delivery_batch (run_id, consumer_position, batch_no, size, status,"
            " attempts) VALUES ($1, $2, 0, $3, 'pending', 0)",
            [run_id, delivery.position, len(cleaned)],
        )
        await tx.execute_query(
            "INSERT INTO run_consumer (run_id, position, kind, channel, status, stats)"
            " VALUES ($1, $2, 'delivery', $3, 'pending', '{}'::jsonb)",
            [run_id, delivery.position, str(delivery.channel)],
        )
    return run_id


def validate_dnd_rules(rules: Any) -> list[dict[str, Any]]:
    """DND policy rules, checked (PlanError naming the bad rule) and normalised."""
    try:
        return [{"max": r.max, "period": r.period} for r in parse_rules(rules)]
    except InvalidDndRules as error:
        path, message = error.errors[0]
        raise PlanError("invalid", message, path) from error


async def _plan(plan_id: int) -> Plan:
    plan = await Plan.get_or_none(id=plan_id, deleted_at=None)
    if plan is None:
        raise PlanError("not_found", f"no plan {plan_id}")
    return plan


async def _transition(plan: Plan, state: str, *, next_run_at: datetime | None) -> None:
    updated = await Plan.filter(id=plan.id, version=plan.version, state=plan.state).update(
        state=state, next_run_at=next_run_at, version=plan.version + 1, updated_at=datetime.now(UTC)
    )
    if not updated:
        raise PlanError("conflict", "the plan was changed by someone else; reload it", "version")


async def _open_runs(plan_id: int, conn: BaseDBAsyncClient | None = None) -> int:
    rows = await (conn or connections.get("default")).execute_query_dict(
        "SELECT count(*) AS n FROM plan_run WHERE plan_id = $1 AND state = ANY($2::varchar[])",
        [plan_id, list(OPEN_RUN_STATES)],
    )
    return rows[0]["n"]


async def _run_state(run_id: int) -> str:
    rows = await connections.get("default").execute_query_dict(
        "SELECT state FROM plan_run WHERE id = $1", [run_id]
    )
    if not rows:
        raise PlanError("not_found", f"no run {run_id}")
    return rows[0]["state"]


def _exclusion_segment_id(options: Any) -> int | None:
    value = options.get("exclusion_segment_id") if isinstance(options, dict) else None
    return value if isinstance(value, int) else None


def _next_run(schedule: Any, after: datetime) -> datetime | None:
    return next_occurrence(parse_schedule(schedule, default_timezone="UTC"), after)
