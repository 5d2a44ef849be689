"""Send one batch of a run's recipients to the delivery platform, exactly once.

`send_batch` holds the batch's row lock (`FOR UPDATE SKIP LOCKED`) while it sends, so one
worker at a time works on a batch; a second copy of the message returns at once. The batch is
sent with the idempotency key `run-<run>-c<consumer>-b<batch>`: when a worker dies after the
platform accepted the batch but before the database recorded it, the next attempt gets
"duplicate" from the platform and only records it. Recipients and batch are marked in the same
transaction that held the lock, so the database is never half-marked.

Retryable failures (5xx, 429, timeouts, connection errors) are retried with backoff within the
call; when they persist the batch stays pending (with its attempts and last error) and the
tick enqueues it again, up to `MAX_BATCH_ATTEMPTS` calls before it fails. A 4xx fails the batch
with the platform's reason at once. A run whose failed share passes its `max_error_rate`
pauses itself; when no batch is pending the platform deliveries are started and the run completed.

A run of a plan with several deliveries (an email and an SMS...) has batches per consumer
(`delivery_batch.consumer_position`, keys `run-<run>-c<consumer>-b<batch>`) over that
consumer's own recipient rows (`recipient.delivery_no`, NULL for the first delivery): exactly
once holds per consumer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from actors.broker import actor
from actors.plan_options import (
    DEFAULT_MAX_ERROR_RATE,
    InvalidPlan,
    parse_consumers,
    parse_options,
)
from actors.platform_client import (
    DeliveryReference,
    PermanentError,
    PlatformClient,
    RetryableError,
    RetryPolicy,
    send_with_retries,
)

log = logging.getLogger(__name__)

MAX_BATCH_ATTEMPTS = 5  # calls of send_batch that met only retryable errors, then: failed
PACE_SLEEP_LIMIT = 5.0  # a batch due sooner than this waits; later ones are sent again later
MAX_PACE_DELAY = 60.0  # a paced batch comes back at most this much later (held by the broker)
ENQUEUE_CHUNK = 500


@dataclass(frozen=True)
class BatchOutcome:
    """What one `send_batch` call did: sent, failed, retry (left pending), or skipped (why)."""

    status: str
    detail: str = ""
    wait: float = 0.0  # paced: seconds until the batch is due


def batch_key(run_id: int, position: int, batch_no: int) -> str:
    """The idempotency key of a batch on the delivery platform."""
    return f"run-{run_id}-c{position}-b{batch_no}"


async def send_batch(
    run_id: int,
    position: int,
    batch_no: int,
    *,
    client: PlatformClient,
    retry: RetryPolicy = RetryPolicy(),
) -> BatchOutcome:
    """Send batch `batch_no` of consumer `position` of run `run_id`; safe to call again."""
    batch = await _load_batch(connections.get("default"), run_id, position, batch_no, lock=False)
    if isinstance(batch, BatchOutcome):
        return batch
    try:
        options = parse_options(_json(batch["options"]))
        consumers = parse_consumers(_json(batch["consumers"]))
        consumer = consumers[position]
    except (InvalidPlan, IndexError) as error:
        async with in_transaction() as tx:
            locked = await _load_batch(tx, run_id, position, batch_no, lock=True)
            if isinstance(locked, BatchOutcome):
                return locked
            return await _finish(tx, locked, batch_no, "failed", f"invalid plan: {error}")
    wait = _pace(batch, options.max_rate, options.batch_size, batch_no, datetime.now(UTC))
    if wait > PACE_SLEEP_LIMIT:
        return BatchOutcome("skipped", "paced", wait=wait)
    if wait > 0:
        await asyncio.sleep(wait)
    try:
        delivery_id = await ensure_delivery(run_id, batch["database_id"], consumer, client, retry)
    except PermanentError as error:
        async with in_transaction() as tx:
            locked = await _load_batch(tx, run_id, position, batch_no, lock=True)
            if isinstance(locked, BatchOutcome):
                return locked
            return await _finish(tx, locked, batch_no, "failed", error.message)
    except RetryableError as error:
        async with in_transaction() as tx:
            locked = await _load_batch(tx, run_id, position, batch_no, lock=True)
            if isinstance(locked, BatchOutcome):
                return locked
            return await _retry_later(tx, locked, batch_no, error)
    async with in_transaction() as tx:
        locked = await _load_batch(tx, run_id, position, batch_no, lock=True)
        if isinstance(locked, BatchOutcome):
            return locked
        recipients = await tx.execute_query_dict(
            "SELECT contact_id, address FROM recipient WHERE run_id = $1"
            " AND coalesce(delivery_no, 0) = $3"
            " AND batch_no = $2 AND status = 'pending' ORDER BY contact_id",
            [run_id, batch_no, locked["slot"]],
        )
        payload = [
            {"contact_ref": str(row["contact_id"]), "address": row["address"]} for row in recipients
        ]
        key = batch_key(run_id, position, batch_no)
        try:
            await send_with_retries(
                lambda: client.add_recipients(delivery_id, key, payload), policy=retry
            )
        except PermanentError as error:
            return await _finish(tx, locked, batch_no, "failed", error.message)
        except RetryableError as error:
            return await _retry_later(tx, locked, batch_no, error)
        return await _finish(tx, locked, batch_no, "sent")


async def _retry_later(
    tx: BaseDBAsyncClient,
    batch: dict[str, Any],
    batch_no: int,
    error: RetryableError,
) -> BatchOutcome:
    """Count a call that met only retryable errors: leave the batch pending, or fail it."""
    attempts = batch["attempts"] + 1
    if attempts >= MAX_BATCH_ATTEMPTS:
        return await _finish(tx, batch, batch_no, "failed", error.message)
    await tx.execute_query(
        "UPDATE delivery_batch SET attempts = $2, last_error = $3 WHERE id = $1",
        [batch["id"], attempts, error.message],
    )
    return BatchOutcome("retry", error.message)


async def _load_batch(
    conn: BaseDBAsyncClient, run_id: int, position: int, batch_no: int, *, lock: bool
) -> dict[str, Any] | BatchOutcome:
    """The batch with its run and plan, or why it is not to be sent now."""
    rows = await conn.execute_query_dict(
        "SELECT b.id, b.run_id, b.status, b.attempts, r.state, r.scheduled_for, r.listed_at,"
        " r.plan_id, p.database_id, p.options, p.consumers,"
        # The consumer's recipient rows (`delivery_no`): how many deliveries the run listed
        # before it (fixed when the list was written, whatever the plan became since).
        " (SELECT count(*) FROM run_consumer rc WHERE rc.run_id = b.run_id"
        "  AND rc.kind = 'delivery' AND rc.position < b.consumer_position)::int AS slot"
        " FROM delivery_batch b JOIN plan_run r ON r.id = b.run_id"
        " JOIN plan p ON p.id = r.plan_id"
        " WHERE b.run_id = $1 AND b.consumer_position = $2 AND b.batch_no = $3"
        + (" FOR UPDATE OF b SKIP LOCKED" if lock else ""),
        [run_id, position, batch_no],
    )
    if not rows:
        return BatchOutcome("skipped", "busy" if lock else "missing")
    batch = rows[0]
    if batch["status"] != "pending":
        return BatchOutcome("skipped", f"already {batch['status']}")
    if batch["state"] != "delivering":
        return BatchOutcome("skipped", f"run is {batch['state']}")
    if batch["scheduled_for"] > datetime.now(UTC):
        return BatchOutcome("skipped", "run not due yet")
    return batch


async def _finish(
    tx: BaseDBAsyncClient,
    batch: dict[str, Any],
    batch_no: int,
    status: str,
    error: str | None = None,
) -> BatchOutcome:
    """Mark the batch and its recipients (of its delivery) `sent` or `failed`, in the
    locking transaction."""
    await tx.execute_query(
        "UPDATE recipient SET status = $3::varchar, error = $4,"
        " sent_at = CASE WHEN $3::varchar = 'sent' THEN now() END"
        " WHERE run_id = $1 AND coalesce(delivery_no, 0) = $5 AND batch_no = $2"
        " AND status = 'pending'",
        [batch["run_id"], batch_no, status, error, batch["slot"]],
    )
    await tx.execute_query(
        "UPDATE delivery_batch SET status = $2::varchar, attempts = attempts + 1,"
        " last_error = $3, sent_at = CASE WHEN $2::varchar = 'sent' THEN now() END WHERE id = $1",
        [batch["id"], status, error],
    )
    return BatchOutcome(status, error or "")


def _pace(
    batch: dict[str, Any], max_rate: int | None, batch_size: int, batch_no: int, now: datetime
) -> float:
    """Seconds to wait so the run sends at most `max_rate` recipients per second."""
    if not max_rate:
        return 0.0
    start = max(batch["scheduled_for"], batch["listed_at"] or batch["scheduled_for"])
    due = start.timestamp() + batch_no * batch_size / max_rate
    return max(0.0, due - now.timestamp())


async def ensure_delivery(
    run_id: int, database_id: int, consumer: Any, client: PlatformClient, retry: RetryPolicy
) -> str:
    """The platform delivery of this run consumer, created once (idempotency key per run)."""
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT platform_delivery_id FROM run_consumer WHERE run_id = $1 AND position = $2",
        [run_id, consumer.position],
    )
    if rows and rows[0]["platform_delivery_id"]:
        return rows[0]["platform_delivery_id"]
    reference = DeliveryReference(database_id, run_id, consumer.position)
    delivery = await send_with_retries(
        lambda: client.create_delivery(
            str(consumer.channel),
            dict(consumer.settings),
            reference=reference,
            idempotency_key=f"run-{run_id}-c{consumer.position}",
        ),
        policy=retry,
    )
    await conn.execute_query(
        "UPDATE run_consumer SET platform_delivery_id = coalesce(platform_delivery_id, $3),"
        " status = 'delivering' WHERE run_id = $1 AND position = $2",
        [run_id, consumer.position, delivery.id],
    )
    return delivery.id


async def after_batch(run_id: int, position: int, client: PlatformClient) -> str:
    """Touch the run's heartbeat; pause it past its error rate; complete it when all is sent.

    Runs after the batch's transaction committed, so the last batch to finish sees no pending
    batch and completes the run (the tick also completes a stalled one).
    """
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "UPDATE plan_run SET heartbeat_at = now() WHERE id = $1 AND state = 'delivering'"
        " RETURNING plan_id",
        [run_id],
    )
    if not rows:
        return "not delivering"
    paused = await conn.execute_query_dict(
        "WITH totals AS (SELECT coalesce(sum(size) FILTER (WHERE status = 'failed'), 0) AS failed,"
        " coalesce(sum(size) FILTER (WHERE status IN ('sent', 'failed')), 0) AS done"
        " FROM delivery_batch WHERE run_id = $1)"
        " UPDATE plan_run r SET state = 'paused',"
        " error = format('error rate %s%% passed the limit', round(100.0 * t.failed / t.done, 1))"
        " FROM totals t, plan p WHERE r.id = $1 AND p.id = r.plan_id AND r.state = 'delivering'"
        " AND t.done > 0 AND t.failed::float / t.done"
        "   > coalesce((p.options->>'max_error_rate')::float, $2) RETURNING r.id",
        [run_id, DEFAULT_MAX_ERROR_RATE],
    )
    if paused:
        log.warning("run %s paused: error rate over its limit", run_id)
        return "paused"
    return await complete_if_done(run_id, position, client)


async def complete_if_done(run_id: int, position: int, client: PlatformClient) -> str:
    """Start the run's platform deliveries (every delivery consumer's) and complete the run
    once no batch of any consumer is pending. `position`: the consumer whose batch ended."""
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT rc.platform_delivery_id FROM plan_run r"
        " LEFT JOIN run_consumer rc ON rc.run_id = r.id AND rc.kind = 'delivery'"
        "   AND rc.platform_delivery_id IS NOT NULL"
        " WHERE r.id = $1 AND r.state = 'delivering' AND NOT EXISTS"
        " (SELECT 1 FROM delivery_batch b WHERE b.run_id = r.id AND b.status = 'pending')"
        " ORDER BY rc.position = $2 DESC, rc.position",
        [run_id, position],
    )
    if not rows:
        return "delivering"
    for row in rows:
        delivery_id = row["platform_delivery_id"]
        if delivery_id:  # starting twice is a no-op on the platform
            await send_with_retries(lambda delivery_id=delivery_id: client.start(delivery_id))
    await conn.execute_query(
        "WITH r AS (UPDATE plan_run SET state = 'completed', finished_at = now()"
        " WHERE id = $1 AND state = 'delivering' RETURNING id)"
        " UPDATE run_consumer SET status = 'started' FROM r"
        " WHERE run_consumer.run_id = r.id AND run_consumer.platform_delivery_id IS NOT NULL",
        [run_id],
    )
    return "completed"


async def enqueue_pending_batches(run_id: int) -> int:
    """Enqueue `deliver_batch` for every pending batch of the run (or complete the run)."""
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT consumer_position, batch_no FROM delivery_batch"
        " WHERE run_id = $1 AND status = 'pending' ORDER BY batch_no",
        [run_id],
    )
    if not rows:
        positions = await conn.execute_query_dict(
            "SELECT coalesce(min(consumer_position), 0) AS p FROM delivery_batch WHERE run_id = $1",
            [run_id],
        )
        await complete_if_done(run_id, positions[0]["p"], _client())
        return 0
    for start in range(0, len(rows), ENQUEUE_CHUNK):
        chunk = rows[start : start + ENQUEUE_CHUNK]
        await asyncio.to_thread(
            lambda chunk=chunk: [
                deliver_batch.send(run_id, row["consumer_position"], row["batch_no"])
                for row in chunk
            ]
        )
    return len(rows)


_clients: dict[int, PlatformClient] = {}


def _client() -> PlatformClient:
    """The delivery platform client of this event loop (one connection pool, reused)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        from contactplan.settings import Settings

        client = _clients[id(loop)] = PlatformClient.from_settings(Settings.from_env())
    return client


@actor(queue_name="deliveries", max_retries=3)
async def deliver_batch(run_id: int, position: int, batch_no: int) -> None:
    """Dramatiq actor: send one batch (see `send_batch`)."""
    client = _client()
    outcome = await send_batch(run_id, position, batch_no, client=client)
    if outcome.status in ("sent", "failed"):
        await after_batch(run_id, position, client)
    if outcome.status == "skipped" and outcome.detail == "paced":
        delay_ms = int(min(outcome.wait, MAX_PACE_DELAY) * 1000)
        deliver_batch.send_with_options(args=(run_id, position, batch_no), delay=delay_ms)


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value
