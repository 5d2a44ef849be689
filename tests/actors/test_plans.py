"""Plan life cycle, run control and progress, test sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actors.deliver import after_batch, send_batch
from actors.plan_options import InvalidPlan, delivery_consumers, parse_consumers, parse_options
from actors.plans import (
    PlanError,
    cancel_run,
    create_plan,
    delete_plan,
    mark_ready,
    reopen_plan,
    resume_run,
    run_progress,
    start_recurrence,
    start_test_send,
    stop_recurrence,
    update_plan,
)
from actors.run_plan import evaluate_run
from actors.tick import claim_due_runs, stalled_deliveries
from models import Plan, Segment
from tests.actors.conftest import Sink
from tests.actors.plan_fixtures import (
    EMAIL_DELIVERY,
    SMS_DELIVERY,
    World,
    add_contacts,
    fetch,
    make_plan,
    make_run,
)

TOMORROW = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
ONCE = {"kind": "once", "start": TOMORROW, "time": "09:00", "timezone": "UTC"}
DAILY = {"kind": "daily", "start": TOMORROW, "time": "09:00", "timezone": "UTC"}


async def _draft(world: World, **changes) -> Plan:
    return await create_plan(
        author_id=world.user_id,
        database_id=world.database_id,
        name="Welcome",
        segment_id=changes.pop("segment_id", world.segment_id),
        schedule=changes.pop("schedule", ONCE),
        consumers=changes.pop("consumers", [EMAIL_DELIVERY]),
        **changes,
    )


async def test_a_plan_is_created_as_draft_with_a_normalised_schedule(world: World) -> None:
    plan = await _draft(world)
    assert plan.state == "draft" and plan.next_run_at is None
    assert plan.schedule["kind"] == "once" and plan.schedule["time"] == "09:00"


async def test_bad_input_names_what_is_wrong_and_creates_nothing(world: World) -> None:
    with pytest.raises(PlanError) as caught:
        await _draft(world, options={"contacts": {"mode": "exact", "count": -1}})
    assert caught.value.path == "options.contacts.count"
    with pytest.raises(PlanError) as caught:
        await _draft(world, consumers=[{"kind": "delivery", "channel": "fax", "template": "t"}])
    assert caught.value.path == "consumers[0].channel"
    with pytest.raises(PlanError) as caught:
        await _draft(
            world,
            schedule={"kind": "weekly", "start": TOMORROW, "time": "09:00", "weekdays": ["xx"]},
        )
    assert caught.value.path == "schedule.weekdays[0]"
    with pytest.raises(PlanError) as caught:
        await _draft(world, segment_id=world.segment_id + 1000)
    assert caught.value.path == "segmentId"
    assert await Plan.all().count() == 0


async def test_ready_then_reopened_before_it_runs(world: World) -> None:
    plan = await mark_ready((await _draft(world)).id)
    assert plan.state == "ready"
    assert plan.next_run_at == datetime.fromisoformat(f"{TOMORROW}T09:00:00+00:00")
    with pytest.raises(PlanError) as caught:
        await update_plan(plan.id, plan.version, name="x")
    assert caught.value.code == "not_editable"
    plan = await reopen_plan(plan.id)
    assert plan.state == "draft" and plan.next_run_at is None
    plan = await update_plan(plan.id, plan.version, name="Renamed")
    assert plan.name == "Renamed"


async def test_stale_version_is_a_conflict(world: World) -> None:
    plan = await _draft(world)
    await update_plan(plan.id, plan.version, name="first")
    with pytest.raises(PlanError) as caught:
        await update_plan(plan.id, plan.version, name="second")
    assert caught.value.code == "conflict"
    assert (await Plan.get(id=plan.id)).name == "first"


async def test_archived_plans_are_reopened_or_deleted_by_admins_only(world: World) -> None:
    plan = await make_plan(world)
    await claim_due_runs()
    assert (await Plan.get(id=plan.id)).state == "archived"
    await fetch("UPDATE plan_run SET state = 'completed' WHERE plan_id = $1", plan.id)
    for call in (reopen_plan, delete_plan):
        with pytest.raises(PlanError) as caught:
            await call(plan.id)
        assert caught.value.code == "forbidden"
    assert (await reopen_plan(plan.id, is_admin=True)).state == "draft"
    await delete_plan(plan.id)
    assert (await Plan.get(id=plan.id)).deleted_at is not None


async def test_a_recurrence_is_started_stopped_and_edited_for_future_runs(world: World) -> None:
    plan = await mark_ready((await _draft(world, schedule=DAILY)).id)
    assert plan.state == "active"
    plan = await update_plan(plan.id, plan.version, schedule=DAILY | {"time": "18:30"})
    assert plan.next_run_at == datetime.fromisoformat(f"{TOMORROW}T18:30:00+00:00")
    plan = await stop_recurrence(plan.id)
    assert plan.state == "paused" and plan.next_run_at is None
    plan = await start_recurrence(plan.id)
    assert plan.state == "active" and plan.next_run_at is not None


async def test_a_plan_keeps_working_when_its_segment_is_deleted(world: World) -> None:
    plan = await _draft(world)
    await Segment.filter(id=world.segment_id).update(deleted_at=datetime.now(UTC))
    plan = await update_plan(plan.id, plan.version, name="still")
    assert plan.name == "still"
    assert (await mark_ready(plan.id)).state == "ready"
    with pytest.raises(PlanError) as caught:  # a deleted segment cannot be newly chosen
        await create_plan(
            author_id=world.user_id,
            database_id=world.database_id,
            name="n",
            segment_id=world.segment_id,
            schedule=ONCE,
        )
    assert caught.value.path == "segmentId"


async def test_cancelled_run_stops_and_progress_is_readable(world: World, sink: Sink) -> None:
    await add_contacts(world.database_id, 30, tag="c")
    plan = await make_plan(world, options={"batch_size": 10, "control_percent": 10})
    run_id = await make_run(plan)
    assert (await run_progress(run_id)).state == "pending"
    await evaluate_run(run_id)
    async with sink.client() as client:
        await send_batch(run_id, 0, 0, client=client)
    progress = await run_progress(run_id)
    assert progress.state == "delivering"
    assert progress.sent == 10 and progress.batches_done == 1
    assert progress.to_send == progress.funnel["pending"] == progress.sent + progress.pending
    assert progress.funnel["segment"] == 30
    assert await cancel_run(run_id) == "cancelled"
    assert await cancel_run(run_id) == "cancelled"
    progress = await run_progress(run_id)
    assert progress.state == "cancelled" and progress.pending == 0 and progress.sent == 10
    async with sink.client() as client:
        assert (await send_batch(run_id, 0, 1, client=client)).status == "skipped"


async def test_a_paused_run_resumes_and_is_picked_up(world: World) -> None:
    await add_contacts(world.database_id, 5, tag="c")
    run_id = await make_run(await make_plan(world))
    await evaluate_run(run_id)
    with pytest.raises(PlanError):
        await resume_run(run_id)
    await fetch("UPDATE plan_run SET state = 'paused' WHERE id = $1", run_id)
    assert await resume_run(run_id) == "delivering"
    assert await stalled_deliveries() == [run_id]


async def test_a_test_send_goes_to_the_test_addresses_apart_from_real_runs(
    world: World, sink: Sink
) -> None:
    plan = await make_plan(world)
    with pytest.raises(PlanError) as caught:
        await start_test_send(plan.id, ["a@x.example", "nope"])
    assert caught.value.path == "addresses[1]"
    run_id = await start_test_send(plan.id, ["a@x.example", "b@x.example"])
    assert await stalled_deliveries() == [run_id]  # the next tick enqueues it
    async with sink.client() as client:
        assert (await send_batch(run_id, 0, 0, client=client)).status == "sent"
        assert await after_batch(run_id, 0, client) == "completed"
    progress = await run_progress(run_id)
    assert progress.trigger == "test" and progress.sent == 2
    delivery = (
        await fetch("SELECT platform_delivery_id FROM run_consumer WHERE run_id = $1", run_id)
    )[0]["platform_delivery_id"]
    received = await sink.received(delivery)
    assert sorted(received["per_contact"]) == ["-1", "-2"]


def test_options_validation_reports_every_bad_key_with_its_path() -> None:
    with pytest.raises(InvalidPlan) as caught:
        parse_options(
            {
                "contacts": {"mode": "range", "min": 10, "max": 5},
                "if_short": "top_up",
                "control_percent": 120,
                "batch_size": 0,
                "colour": "red",
            }
        )
    paths = [e.path for e in caught.value.errors]
    assert paths == [
        "options.colour",
        "options.contacts.max",
        "options.top_up_percent",
        "options.control_percent",
        "options.batch_size",
    ]
    assert parse_options({"contacts": {"mode": "exact", "count": 5}}).contacts_max == 5


def test_a_plan_may_have_several_deliveries_besides_exports_and_webhooks() -> None:
    two = parse_consumers([EMAIL_DELIVERY, {"kind": "export"}, SMS_DELIVERY])
    assert [(c.position, c.kind, c.channel) for c in delivery_consumers(two)] == [
        (0, "delivery", "email"),
        (2, "delivery", "sms"),
    ]
    with pytest.raises(InvalidPlan) as caught:  # each delivery is still checked
        parse_consumers([EMAIL_DELIVERY, SMS_DELIVERY | {"template": ""}])
    assert [e.path for e in caught.value.errors] == ["consumers[1].template"]
    consumers = parse_consumers(
        [
            EMAIL_DELIVERY,
            {"kind": "export"},
            {"kind": "webhook", "url": "https://h.example", "fields": {"k": "v"}},
        ]
    )
    assert [c.kind for c in consumers] == ["delivery", "export", "webhook"]
