"""deliver_batch: one batch to the send-sink over HTTP with its idempotency key, marked once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.deliver import after_batch, batch_key, send_batch
from actors.platform_client import RetryPolicy
from actors.run_plan import evaluate_run
from tests.actors.conftest import Sink
from tests.actors.plan_fixtures import (
    World,
    add_contacts,
    fetch,
    make_plan,
    make_run,
    recipients_by_status,
)

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


async def _listed_run(world: World, contacts: int, **options) -> int:
    await add_contacts(world.database_id, contacts, tag="c")
    plan = await make_plan(world, options=options)
    run_id = await make_run(plan)
    assert await evaluate_run(run_id) == "delivering"
    return run_id


async def _batches(run_id: int) -> list[dict]:
    return await fetch(
        "SELECT batch_no, status, attempts, last_error FROM delivery_batch WHERE run_id = $1"
        " ORDER BY batch_no",
        run_id,
    )


async def _delivery_id(run_id: int) -> str:
    rows = await fetch("SELECT platform_delivery_id FROM run_consumer WHERE run_id = $1", run_id)
    return rows[0]["platform_delivery_id"]


async def test_a_batch_is_sent_with_its_key_and_marked_sent(world: World, sink: Sink) -> None:
    run_id = await _listed_run(world, 25, batch_size=10)
    async with sink.client() as client:
        outcome = await send_batch(run_id, 0, 1, client=client, retry=FAST)
    assert outcome.status == "sent"
    received = await sink.received(await _delivery_id(run_id))
    assert received["batch_keys"] == [batch_key(run_id, 0, 1)]
    assert len(received["per_contact"]) == 10
    sent = await fetch(
        "SELECT contact_id, address, sent_at FROM recipient WHERE run_id = $1 AND batch_no = 1",
        run_id,
    )
    assert {str(r["contact_id"]) for r in sent} == set(received["per_contact"])
    assert all(r["sent_at"] is not None for r in sent)
    assert [b["status"] for b in await _batches(run_id)] == ["pending", "sent", "pending"]


async def test_sending_a_batch_again_sends_nothing(world: World, sink: Sink) -> None:
    run_id = await _listed_run(world, 10, batch_size=10)
    async with sink.client() as client:
        assert (await send_batch(run_id, 0, 0, client=client)).status == "sent"
        again = await send_batch(run_id, 0, 0, client=client)
    assert again.status == "skipped" and again.detail == "already sent"
    received = await sink.received(await _delivery_id(run_id))
    assert received["duplicated_contacts"] == []
    assert len(received["per_contact"]) == 10


async def test_accepted_but_unrecorded_batch_is_recorded_without_resending(
    world: World, sink: Sink
) -> None:
    """The platform took the batch, the worker died before marking it: the key answers."""
    run_id = await _listed_run(world, 10, batch_size=10)
    async with sink.client() as client:
        assert (await send_batch(run_id, 0, 0, client=client)).status == "sent"
        # Undo the marking, as if the transaction had never committed.
        await fetch(
            "UPDATE recipient SET status = 'pending', sent_at = NULL WHERE run_id = $1", run_id
        )
        await fetch("UPDATE delivery_batch SET status = 'pending' WHERE run_id = $1", run_id)
        assert (await send_batch(run_id, 0, 0, client=client)).status == "sent"
    received = await sink.received(await _delivery_id(run_id))
    assert received["duplicated_contacts"] == [] and len(received["per_contact"]) == 10
    assert await recipients_by_status(run_id) == {("sent", None): 10}


async def test_lost_responses_and_timeouts_are_retried_without_duplicates(
    world: World, sink: Sink
) -> None:
    run_id = await _listed_run(world, 200, batch_size=10)
    await sink.faults(lose_rate=0.3, timeout_rate=0.2, hang_seconds=1, fail_rate=0.1, seed=3)
    policy = RetryPolicy(max_attempts=20, base_delay=0.01, max_delay=0.05)
    async with sink.client(timeout=0.3) as client:
        for batch_no in range(20):
            outcome = await send_batch(run_id, 0, batch_no, client=client, retry=policy)
            assert outcome.status == "sent", outcome
    await sink.faults()
    received = await sink.received(await _delivery_id(run_id))
    assert received["duplicated_contacts"] == []
    assert len(received["per_contact"]) == 200
    assert await recipients_by_status(run_id) == {("sent", None): 200}


async def test_a_4xx_fails_the_batch_with_its_reason_and_is_not_retried(
    world: World, sink: Sink
) -> None:
    run_id = await _listed_run(world, 10, batch_size=10)
    async with sink.client() as client:
        await send_batch(run_id, 0, 1, client=client)  # no such batch: creates the delivery
        await sink.faults(fail_rate=1.0, status=422)
        outcome = await send_batch(run_id, 0, 0, client=client, retry=FAST)
    assert outcome.status == "failed"
    (batch,) = await _batches(run_id)
    assert batch["status"] == "failed" and batch["attempts"] == 1
    assert "422" in batch["last_error"]
    rows = await fetch("SELECT status, error FROM recipient WHERE run_id = $1", run_id)
    assert {r["status"] for r in rows} == {"failed"}
    assert all("422" in r["error"] for r in rows)


async def test_persistent_5xx_leaves_the_batch_pending_then_fails_it(
    world: World, sink: Sink
) -> None:
    run_id = await _listed_run(world, 10, batch_size=10)
    await sink.faults(fail_rate=1.0, status=503)
    async with sink.client() as client:
        outcomes = [
            (await send_batch(run_id, 0, 0, client=client, retry=FAST)).status for _ in range(5)
        ]
    assert outcomes == ["retry", "retry", "retry", "retry", "failed"]
    (batch,) = await _batches(run_id)
    assert batch["status"] == "failed" and "503" in batch["last_error"]


async def test_rate_limit_429_is_honoured(world: World, sink: Sink) -> None:
    run_id = await _listed_run(world, 30, batch_size=10)
    async with sink.client() as client:
        await sink.faults(max_rate=1)
        policy = RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.05)
        for batch_no in range(3):
            assert (await send_batch(run_id, 0, batch_no, client=client, retry=policy)).status == (
                "sent"
            )
    received = await sink.received(await _delivery_id(run_id))
    assert len(received["per_contact"]) == 30 and received["duplicated_contacts"] == []


async def test_the_last_batch_starts_the_delivery_and_completes_the_run(
    world: World, sink: Sink
) -> None:
    run_id = await _listed_run(world, 20, batch_size=10)
    async with sink.client() as client:
        await send_batch(run_id, 0, 0, client=client)
        assert await after_batch(run_id, 0, client) == "delivering"
        await send_batch(run_id, 0, 1, client=client)
        assert await after_batch(run_id, 0, client) == "completed"
    run = (await fetch("SELECT state, finished_at FROM plan_run WHERE id = $1", run_id))[0]
    assert run["state"] == "completed" and run["finished_at"] is not None
    received = await sink.received(await _delivery_id(run_id))
    assert received["status"] == "started"


async def test_a_run_past_its_error_rate_pauses_and_stops_sending(world: World, sink: Sink) -> None:
    run_id = await _listed_run(world, 40, batch_size=10, max_error_rate=0.3)
    async with sink.client() as client:
        await send_batch(run_id, 0, 0, client=client)
        assert await after_batch(run_id, 0, client) == "delivering"
        await sink.faults(fail_rate=1.0, status=400)
        await send_batch(run_id, 0, 1, client=client)
        assert await after_batch(run_id, 0, client) == "paused"  # 50 % failed > 30 %
        await sink.faults()
        skipped = await send_batch(run_id, 0, 2, client=client)
    assert skipped.status == "skipped" and skipped.detail == "run is paused"
    run = (await fetch("SELECT state, error FROM plan_run WHERE id = $1", run_id))[0]
    assert run["state"] == "paused" and "error rate 50.0%" in run["error"]


async def test_a_cancelled_run_sends_nothing_more(world: World, sink: Sink) -> None:
    run_id = await _listed_run(world, 20, batch_size=10)
    await fetch("UPDATE plan_run SET state = 'cancelled' WHERE id = $1", run_id)
    async with sink.client() as client:
        outcome = await send_batch(run_id, 0, 0, client=client)
    assert outcome.status == "skipped" and outcome.detail == "run is cancelled"
    assert await recipients_by_status(run_id) == {("pending", None): 20}


async def test_a_batch_taken_but_answered_with_errors_is_recorded_by_a_later_call(
    world: World, sink: Sink
) -> None:
    run_id = await _listed_run(world, 10, batch_size=10)
    async with sink.client() as client:
        await send_batch(run_id, 0, 1, client=client)  # no such batch: creates the delivery
        await sink.faults(lose_rate=1.0, status=503)  # the platform works, the answer is lost
        assert (await send_batch(run_id, 0, 0, client=client, retry=FAST)).status == "retry"
        await sink.faults()
        assert (await send_batch(run_id, 0, 0, client=client, retry=FAST)).status == "sent"
    received = await sink.received(await _delivery_id(run_id))
    assert received["duplicated_contacts"] == [] and len(received["per_contact"]) == 10
    assert received["batch_keys"] == [batch_key(run_id, 0, 0)]


async def test_max_rate_paces_later_batches(world: World, sink: Sink) -> None:
    run_id = await _listed_run(world, 100, batch_size=10, max_rate=2)
    async with sink.client() as client:
        assert (await send_batch(run_id, 0, 0, client=client)).status == "sent"
        later = await send_batch(run_id, 0, 9, client=client)  # due 45 s after the start
    assert later.status == "skipped" and later.detail == "paced"
    assert 30 < later.wait <= 45
    assert [b["status"] for b in await _batches(run_id)].count("sent") == 1


async def test_a_list_written_in_advance_is_not_sent_before_its_time(
    world: World, sink: Sink
) -> None:
    await add_contacts(world.database_id, 5, tag="c")
    plan = await make_plan(world, options={"list_generation": {"mode": "days_before", "days": 2}})
    run_id = await make_run(plan, scheduled_for=datetime.now(UTC) + timedelta(days=1))
    assert await evaluate_run(run_id) == "delivering"
    async with sink.client() as client:
        outcome = await send_batch(run_id, 0, 0, client=client)
    assert outcome.status == "skipped" and outcome.detail == "run not due yet"
    assert await recipients_by_status(run_id) == {("pending", None): 5}
