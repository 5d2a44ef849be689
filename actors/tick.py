"""The scheduler tick: claim due plans into runs, and pick up runs whose messages were lost.

Called every second by the worker's scheduler loop (`actors.worker.tick`). Every step is a
short transaction with `FOR UPDATE SKIP LOCKED`, so any number of schedulers can tick at once:
a plan is claimed by one of them, a run is unique per (plan, scheduled time), and a run or
batch someone is working on (its row is locked) is never taken over.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from actors.deliver import enqueue_pending_batches
from actors.run_plan import run_plan
from actors.schedule import InvalidSchedule, next_occurrence, parse_schedule
from actors.worker import tick

log = logging.getLogger(__name__)

CLAIM_LIMIT = 100
# A run or batch left this long without progress by a worker that holds no lock on it is
# considered lost (worker killed, broker restarted) and enqueued again.
STALE_SECONDS = 10

# A plan is due when its next run is reached, earlier when its list is generated in advance
# (N days before, or as soon as the plan is ready), and only when no earlier instance is open.
_CLAIM_SQL = """
SELECT p.id, p.next_run_at, p.schedule FROM plan p
WHERE p.deleted_at IS NULL AND p.state IN ('ready', 'active') AND p.next_run_at IS NOT NULL
  AND p.next_run_at <= $1::timestamptz + CASE p.options->'list_generation'->>'mode'
        WHEN 'save' THEN interval '400 days'
        WHEN 'days_before' THEN make_interval(
          days => coalesce((p.options->'list_generation'->>'days')::int, 0))
        ELSE interval '0' END
  AND NOT EXISTS (SELECT 1 FROM plan_run r WHERE r.plan_id = p.id
                  AND r.trigger = 'schedule' AND r.scheduled_for > $1::timestamptz
                  AND r.state IN ('pending', 'evaluating', 'delivering'))
ORDER BY p.next_run_at
FOR UPDATE OF p SKIP LOCKED
LIMIT $2
"""


async def claim_due_runs(now: datetime | None = None, limit: int = CLAIM_LIMIT) -> list[int]:
    """Create the run of every due plan (at most `limit`); return the new runs' ids.

    The plan moves to its next occurrence (only the next instance of a recurrence exists); a
    one-shot plan, or a recurrence that is over, is archived.
    """
    created: list[int] = []
    async with in_transaction() as tx:
        clock = now or (await tx.execute_query_dict("SELECT now() AS now"))[0]["now"]
        plans = await tx.execute_query_dict(_CLAIM_SQL, [clock, limit])
        for plan in plans:
            run_id = await insert_run(tx, plan["id"], "schedule", plan["next_run_at"])
            created.extend([run_id] if run_id is not None else [])
            following = _next_run(plan["schedule"], plan["next_run_at"], plan["id"])
            await tx.execute_query(
                "UPDATE plan SET next_run_at = $2, runs_done = runs_done + $3,"
                " state = CASE WHEN $2::timestamptz IS NULL THEN 'archived' ELSE state END,"
                " updated_at = now() WHERE id = $1",
                [plan["id"], following, int(run_id is not None)],
            )
    return created


async def insert_run(
    tx: BaseDBAsyncClient, plan_id: int, trigger: str, scheduled_for: datetime | None
) -> int | None:
    """Insert a `pending` run of a plan (as-of = scheduled time; `None`: the statement's own
    clock); None if the plan already has a run at that time (unique per plan and time)."""
    rows = await tx.execute_query_dict(
        "INSERT INTO plan_run (plan_id, trigger, scheduled_for, as_of, state, funnel,"
        " created_at, heartbeat_at) SELECT $1, $2, t, t, 'pending', '{}', now(), now()"
        " FROM (SELECT coalesce($3::timestamptz, clock_timestamp()) AS t) s"
        " ON CONFLICT (plan_id, scheduled_for) DO NOTHING RETURNING id",
        [plan_id, trigger, scheduled_for],
    )
    return rows[0]["id"] if rows else None


async def enqueue_runs(run_ids: list[int]) -> None:
    """Send `run_plan` for each run (the broker's client blocks: off the event loop)."""
    if run_ids:
        await asyncio.to_thread(lambda: [run_plan.send(run_id) for run_id in run_ids])


def _next_run(schedule: object, after: datetime, plan_id: int) -> datetime | None:
    try:
        return next_occurrence(parse_schedule(_json(schedule), default_timezone="UTC"), after)
    except InvalidSchedule as error:  # stored schedules are validated; never loop on a bad one
        log.error("plan %s has an invalid schedule, no further runs: %s", plan_id, error)
        return None


async def lost_runs(stale_seconds: float = STALE_SECONDS) -> list[int]:
    """Runs in `pending`/`evaluating` nobody holds and nobody touched for `stale_seconds`."""
    async with in_transaction() as tx:
        rows = await tx.execute_query_dict(
            "SELECT id FROM plan_run WHERE state IN ('pending', 'evaluating')"
            " AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $1)"
            " ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $2",
            [stale_seconds, CLAIM_LIMIT],
        )
        ids = [row["id"] for row in rows]
        if ids:
            await tx.execute_query(
                "UPDATE plan_run SET heartbeat_at = now() WHERE id = ANY($1::bigint[])", [ids]
            )
    return ids


async def stalled_deliveries(stale_seconds: float = STALE_SECONDS) -> list[int]:
    """Due runs in `delivering` with no batch progress for `stale_seconds`, or never enqueued
    (no heartbeat: test sends, resumed runs); each is touched when found."""
    async with in_transaction() as tx:
        rows = await tx.execute_query_dict(
            "SELECT id FROM plan_run WHERE state = 'delivering' AND scheduled_for <= now()"
            " AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1))"
            " ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $2",
            [stale_seconds, CLAIM_LIMIT],
        )
        ids = [row["id"] for row in rows]
        if ids:
            await tx.execute_query(
                "UPDATE plan_run SET heartbeat_at = now() WHERE id = ANY($1::bigint[])", [ids]
            )
    return ids


async def waiting_consumers(stale_seconds: float = STALE_SECONDS) -> list[int]:
    """Listed runs whose export or webhook was never started (the worker died after the list);
    `run_plan` runs them (it does not list twice). Each run is touched when found."""
    async with in_transaction() as tx:
        rows = await tx.execute_query_dict(
            "SELECT r.id FROM plan_run r WHERE r.state IN ('delivering', 'completed', 'paused')"
            " AND r.listed_at IS NOT NULL"
            " AND coalesce(r.heartbeat_at, r.listed_at) < now() - make_interval(secs => $1)"
            " AND EXISTS (SELECT 1 FROM run_consumer rc WHERE rc.run_id = r.id"
            "             AND rc.kind IN ('export', 'webhook') AND rc.status = 'pending')"
            " ORDER BY r.id FOR UPDATE OF r SKIP LOCKED LIMIT $2",
            [stale_seconds, CLAIM_LIMIT],
        )
        ids = [row["id"] for row in rows]
        if ids:
            await tx.execute_query(
                "UPDATE plan_run SET heartbeat_at = now() WHERE id = ANY($1::bigint[])", [ids]
            )
    return ids


async def schedule_once(stale_seconds: float = STALE_SECONDS) -> dict[str, list[int]]:
    """One scheduler round: new runs, lost runs and stalled deliveries, all enqueued."""
    started = await claim_due_runs()
    lost = await lost_runs(stale_seconds)
    stalled = await stalled_deliveries(stale_seconds)
    waiting = await waiting_consumers(stale_seconds)
    run_ids = started + lost + waiting
    await enqueue_runs(run_ids)
    for run_id in stalled:
        await enqueue_pending_batches(run_id)
    if started or lost or stalled or waiting:
        log.info(
            "tick: started %s, lost runs %s, stalled deliveries %s, waiting consumers %s",
            started, lost, stalled, waiting,
        )  # fmt: skip
    return {"started": started, "lost": lost, "stalled": stalled, "waiting": waiting}


@tick
async def plan_scheduler() -> None:
    """The worker's scheduler loop entry point."""
    await schedule_once()


def _json(value: object) -> object:
    import json

    return json.loads(value) if isinstance(value, str) else value
