"""Run now (a manual run of a plan) and the progress of several runs in one statement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from actors.plans import PlanError, run_now, run_progress, runs_progress
from actors.run_plan import evaluate_run
from actors.tick import claim_due_runs
from models import Plan
from tests.actors.plan_fixtures import World, add_contacts, fetch, make_plan, make_run

LATER = datetime.now(UTC) + timedelta(days=3)
DAILY = {"kind": "daily", "start": LATER.date().isoformat(), "time": "09:00", "timezone": "UTC"}


async def _runs(plan: Plan) -> list[dict]:
    return await fetch(
        "SELECT id, trigger, state, scheduled_for, as_of FROM plan_run WHERE plan_id = $1"
        " ORDER BY id",
        plan.id,
    )


async def test_a_ready_one_shot_runs_now_instead_of_at_its_time(world: World) -> None:
    await add_contacts(world.database_id, 4, tag="c")
    plan = await make_plan(world, next_run_at=LATER)
    run_id = await run_now(plan.id)
    (run,) = await _runs(plan)
    assert run["id"] == run_id and run["trigger"] == "manual" and run["state"] == "pending"
    assert run["scheduled_for"] == run["as_of"]
    assert abs(run["scheduled_for"] - datetime.now(UTC)) < timedelta(minutes=1)
    stored = await Plan.get(id=plan.id)
    assert (stored.state, stored.next_run_at, stored.version) == ("archived", None, 2)
    assert await claim_due_runs(now=LATER + timedelta(minutes=1)) == []  # not twice
    assert await evaluate_run(run_id) == "delivering"
    assert (await run_progress(run_id)).funnel["pending"] == 4
    with pytest.raises(PlanError) as refused:
        await run_now(plan.id)
    assert refused.value.code == "invalid_state" and "reopen" in refused.value.message


async def test_a_recurrence_gets_an_extra_run_and_keeps_its_schedule(world: World) -> None:
    plan = await make_plan(world, state="active", schedule=DAILY, next_run_at=LATER)
    await run_now(plan.id)
    stored = await Plan.get(id=plan.id)
    assert (stored.state, stored.next_run_at, stored.runs_done) == ("active", LATER, 0)
    await fetch("UPDATE plan_run SET state = 'completed'")
    await Plan.filter(id=plan.id).update(state="paused", next_run_at=None)
    await run_now(plan.id)  # a stopped recurrence may still run by hand
    assert [r["trigger"] for r in await _runs(plan)] == ["manual", "manual"]
    assert (await Plan.get(id=plan.id)).state == "paused"


@pytest.mark.parametrize("state", ["draft", "error", "archived"])
async def test_plans_that_are_not_ready_do_not_run(world: World, state: str) -> None:
    plan = await make_plan(world, state=state, next_run_at=LATER)
    with pytest.raises(PlanError) as refused:
        await run_now(plan.id)
    assert refused.value.code == "invalid_state"
    assert await _runs(plan) == []
    assert (await Plan.get(id=plan.id)).state == state


async def test_a_plan_with_a_run_in_progress_does_not_run_again(world: World) -> None:
    plan = await make_plan(world, state="active", schedule=DAILY, next_run_at=LATER)
    await make_run(plan)
    with pytest.raises(PlanError) as refused:
        await run_now(plan.id)
    assert refused.value.code == "running"
    assert len(await _runs(plan)) == 1


async def test_two_concurrent_calls_make_one_run(world: World) -> None:
    plan = await make_plan(world, state="active", schedule=DAILY, next_run_at=LATER)
    results = await asyncio.gather(run_now(plan.id), run_now(plan.id), return_exceptions=True)
    runs = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, PlanError)]
    assert len(runs) == 1 and [e.code for e in refused] == ["running"], results
    assert [r["id"] for r in await _runs(plan)] == runs


async def test_a_deleted_or_missing_plan_is_not_found(world: World) -> None:
    plan = await make_plan(world)
    await Plan.filter(id=plan.id).update(deleted_at=datetime.now(UTC))
    for plan_id in (plan.id, plan.id + 1000):
        with pytest.raises(PlanError) as refused:
            await run_now(plan_id)
        assert refused.value.code == "not_found"


async def test_the_run_is_enqueued_on_the_broker(world: World, redis_url: str, redis) -> None:
    plan = await make_plan(world, next_run_at=LATER)
    run_id = await run_now(plan.id, redis_url)
    queued = redis.lrange("dramatiq:plans", 0, -1)
    assert len(queued) == 1
    assert f"[{run_id}]".encode() in redis.hget("dramatiq:plans.msgs", queued[0])


async def test_progress_of_several_runs_in_one_statement(world: World) -> None:
    await add_contacts(world.database_id, 3, tag="c")
    plan = await make_plan(world, options={"batch_size": 2})
    first = await make_run(plan)
    second = await make_run(plan, scheduled_for=datetime.now(UTC) - timedelta(hours=1))
    await evaluate_run(first)
    found = await runs_progress([first, second, first, 999_999])
    assert set(found) == {first, second}
    assert (found[first].state, found[first].to_send, found[first].batches) == ("delivering", 3, 2)
    assert (found[second].state, found[second].to_send, found[second].batches) == ("pending", 0, 0)
    assert found[first] == await run_progress(first)
    assert await runs_progress([]) == {}
