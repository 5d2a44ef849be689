"""The scheduler tick: due plans become runs once, lost runs and stalled deliveries come back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from actors.tick import (
    claim_due_runs,
    lost_runs,
    schedule_once,
    stalled_deliveries,
    waiting_consumers,
)
from contactplan.db import credentials_from_url
from models import Plan
from tests.actors.plan_fixtures import World, fetch, make_plan, make_run


async def _runs_of(plan: Plan) -> list[dict]:
    return await fetch(
        "SELECT id, state, trigger, scheduled_for, as_of FROM plan_run WHERE plan_id = $1",
        plan.id,
    )


async def test_a_due_one_shot_plan_gets_one_run_and_is_archived(world: World) -> None:
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    plan = await make_plan(world, next_run_at=due)
    created = await claim_due_runs()
    (run,) = await _runs_of(plan)
    assert created == [run["id"]]
    assert run["state"] == "pending" and run["trigger"] == "schedule"
    assert run["scheduled_for"] == due and run["as_of"] == due
    plan = await Plan.get(id=plan.id)
    assert plan.state == "archived" and plan.next_run_at is None and plan.runs_done == 1
    assert await claim_due_runs() == []


async def test_plans_not_due_or_not_ready_are_left_alone(world: World) -> None:
    later = await make_plan(world, next_run_at=datetime.now(UTC) + timedelta(minutes=5))
    draft = await make_plan(world, state="draft")
    deleted = await make_plan(world)
    await Plan.filter(id=deleted.id).update(deleted_at=datetime.now(UTC))
    assert await claim_due_runs() == []
    for plan in (later, draft, deleted):
        assert await _runs_of(plan) == []


async def test_a_recurrence_moves_to_its_next_occurrence_only(world: World) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    schedule = {
        "kind": "daily",
        "start": start.date().isoformat(),
        "time": "06:00",
        "timezone": "UTC",
        "end": {"kind": "after", "count": 10},
    }
    first = datetime.combine(start.date(), datetime.min.time(), UTC) + timedelta(hours=6)
    plan = await make_plan(world, state="active", schedule=schedule, next_run_at=first)
    await claim_due_runs()
    plan = await Plan.get(id=plan.id)
    assert plan.state == "active"
    assert plan.next_run_at == first + timedelta(days=1)
    assert len(await _runs_of(plan)) == 1


async def test_racing_ticks_create_each_run_once(world: World) -> None:
    plans = [await make_plan(world) for _ in range(30)]
    results = await asyncio.gather(*(claim_due_runs(limit=7) for _ in range(6)))
    created = [run_id for result in results for run_id in result]
    while more := await claim_due_runs(limit=7):  # whatever the racers skipped
        created.extend(more)
    assert len(created) == len(set(created)) == 30
    for plan in plans:
        assert len(await _runs_of(plan)) == 1


async def test_a_run_is_unique_per_plan_and_scheduled_time(world: World) -> None:
    plan = await make_plan(world)
    when = datetime.now(UTC).replace(microsecond=0)
    await make_run(plan, scheduled_for=when)
    await Plan.filter(id=plan.id).update(next_run_at=when)
    assert await claim_due_runs() == []  # the run exists already: nothing created
    assert len(await _runs_of(plan)) == 1


async def test_list_generated_days_before_creates_the_run_early_once(world: World) -> None:
    when = datetime.now(UTC) + timedelta(days=1)
    plan = await make_plan(
        world,
        next_run_at=when,
        options={"list_generation": {"mode": "days_before", "days": 2}},
        schedule={
            "kind": "daily",
            "start": when.date().isoformat(),
            "time": when.strftime("%H:%M"),
            "timezone": "UTC",
        },
        state="active",
    )
    assert len(await claim_due_runs()) == 1
    # The next instance is also within two days, but only one open instance may exist.
    assert await claim_due_runs() == []
    assert len(await _runs_of(plan)) == 1


async def test_a_lost_run_is_found_unless_someone_holds_it(world: World, database_url: str) -> None:
    plan = await make_plan(world)
    held = await make_run(plan, scheduled_for=datetime.now(UTC) - timedelta(seconds=10))
    lost = await make_run(plan, scheduled_for=datetime.now(UTC) - timedelta(seconds=20))
    fresh = await make_run(plan, scheduled_for=datetime.now(UTC) - timedelta(seconds=30))
    await fetch(
        "UPDATE plan_run SET state = 'evaluating', heartbeat_at = now() - interval '1 minute'"
        " WHERE id = ANY($1::bigint[])",
        [held, lost],
    )
    worker = await asyncpg.connect(**credentials_from_url(database_url))
    try:  # another connection (a worker evaluating `held`) holds its row lock
        async with worker.transaction():
            await worker.execute("SELECT 1 FROM plan_run WHERE id = $1 FOR UPDATE", held)
            found = await lost_runs(stale_seconds=5)
    finally:
        await worker.close()
    assert found == [lost]  # `fresh` was touched just now
    assert await lost_runs(stale_seconds=5) == [held]  # released: now it is lost too
    assert await lost_runs(stale_seconds=5) == []  # both touched when found
    assert fresh not in found


async def test_a_stalled_delivery_is_found(world: World) -> None:
    plan = await make_plan(world)
    run_id = await make_run(plan)
    await fetch(
        "UPDATE plan_run SET state = 'delivering', heartbeat_at = now() - interval '1 minute'"
        " WHERE id = $1",
        run_id,
    )
    assert await stalled_deliveries(stale_seconds=5) == [run_id]
    assert await stalled_deliveries(stale_seconds=5) == []


async def test_schedule_once_enqueues_the_new_run(world: World, redis_url: str, redis) -> None:
    from actors.broker import setup_broker

    broker = setup_broker(redis_url)
    broker.flush_all()
    plan = await make_plan(world)
    result = await schedule_once()
    (run,) = await _runs_of(plan)
    assert result["started"] == [run["id"]]
    queued = redis.lrange("dramatiq:plans", 0, -1)
    assert len(queued) == 1
    message = broker.client.hget("dramatiq:plans.msgs", queued[0])
    assert message is not None and f"[{run['id']}]".encode() in message


async def test_list_generated_when_saved_is_claimed_as_soon_as_ready(world: World) -> None:
    when = datetime.now(UTC) + timedelta(days=10)
    plan = await make_plan(world, next_run_at=when, options={"list_generation": {"mode": "save"}})
    (run_id,) = await claim_due_runs()
    (run,) = await _runs_of(plan)
    assert run["id"] == run_id and run["scheduled_for"] == when


async def test_a_listed_run_whose_export_never_ran_is_found(world: World) -> None:
    from actors.run_plan import evaluate_run
    from tests.actors.plan_fixtures import EMAIL_DELIVERY, add_contacts

    await add_contacts(world.database_id, 3, tag="c")
    plan = await make_plan(world, consumers=[EMAIL_DELIVERY, {"kind": "export"}])
    run_id = await make_run(plan)
    await evaluate_run(run_id)  # the worker dies here: the export never starts
    assert await waiting_consumers(stale_seconds=5) == []  # listed just now
    await fetch("UPDATE plan_run SET heartbeat_at = now() - interval '1 minute'")
    assert await waiting_consumers(stale_seconds=5) == [run_id]
    assert await waiting_consumers(stale_seconds=5) == []  # touched
    await fetch("UPDATE run_consumer SET status = 'done' WHERE kind = 'export'")
    await fetch("UPDATE plan_run SET heartbeat_at = now() - interval '1 minute'")
    assert await waiting_consumers(stale_seconds=5) == []
