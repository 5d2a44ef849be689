"""The consumers of a run's list besides the delivery: a CSV export and a webhook.

Each runs after the list is written, holding its `run_consumer` row lock until it is marked
`done` or `failed` with the reason: at least once, never twice at the same time. The
export streams the list with `COPY ... TO STDOUT` into `DATA_DIR/exports/` (constant memory);
the webhook POSTs the run, its funnel and the consumer's custom fields (never the contacts)
to an automation, retried with backoff on 5xx, timeouts and connection errors.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
from tortoise import connections
from tortoise.transactions import in_transaction

from actors.plan_options import parse_consumers
from actors.platform_client import (
    PlatformError,
    RetryableError,
    RetryPolicy,
    classify_response,
    send_with_retries,
)

log = logging.getLogger(__name__)

# `consumer`: the position of the delivery the row belongs to (a plan with an email and an SMS
# lists a contact once per delivery); empty for a plan without delivery.
EXPORT_COLUMNS = "contact_id, external_id, address, status, exclusion_reason, top_up, consumer"
WEBHOOK_TIMEOUT = 10.0


async def run_list_consumers(
    run_id: int, *, data_dir: Path, retry: RetryPolicy = RetryPolicy()
) -> dict[int, str]:
    """Run the export and webhook consumers of run `run_id` still pending; their outcomes.

    Each consumer's row stays locked (`FOR UPDATE SKIP LOCKED`) while it works and is marked
    in that transaction: a worker that dies mid-call leaves it pending, the tick finds it and
    it runs again (at least once; the webhook's idempotency key lets the receiver drop a
    repeat); a consumer someone else is running is skipped.
    """
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT rc.position FROM run_consumer rc"
        " WHERE rc.run_id = $1 AND rc.kind IN ('export', 'webhook') AND rc.status = 'pending'"
        " ORDER BY rc.position",
        [run_id],
    )
    outcomes: dict[int, str] = {}
    for row in rows:
        async with in_transaction() as tx:
            claimed = await tx.execute_query_dict(
                "SELECT rc.position, r.plan_id, p.database_id, p.consumers, r.funnel"
                " FROM run_consumer rc JOIN plan_run r ON r.id = rc.run_id"
                " JOIN plan p ON p.id = r.plan_id"
                " WHERE rc.run_id = $1 AND rc.position = $2 AND rc.status = 'pending'"
                " FOR UPDATE OF rc SKIP LOCKED",
                [run_id, row["position"]],
            )
            if not claimed:
                continue
            outcome, stats, error = await _run_consumer(run_id, claimed[0], data_dir, retry)
            await tx.execute_query(
                "UPDATE run_consumer SET status = $3, stats = $4::jsonb, error = $5"
                " WHERE run_id = $1 AND position = $2",
                [run_id, row["position"], outcome, json.dumps(stats), error],
            )
        outcomes[row["position"]] = outcome
    return outcomes


async def _run_consumer(
    run_id: int, row: dict[str, Any], data_dir: Path, retry: RetryPolicy
) -> tuple[str, dict[str, Any], str | None]:
    """(outcome `done` or `failed`, stats, error) of one export or webhook."""
    consumer = parse_consumers(_json(row["consumers"]))[row["position"]]
    try:
        if consumer.kind == "export":
            return "done", await _export(run_id, consumer.position, data_dir), None
        return (
            "done",
            await _webhook(run_id, consumer.position, row, consumer.settings, retry),
            None,
        )
    except (PlatformError, OSError) as error:
        message = getattr(error, "message", None) or str(error)
        log.warning("run %s consumer %s failed: %s", run_id, consumer.position, message)
        return "failed", {}, message


def webhook_key(run_id: int, position: int) -> str:
    """The idempotency key of a run's webhook consumer: the same on every attempt."""
    return f"run-{run_id}-c{position}-hook"


def export_path(data_dir: Path, run_id: int, position: int) -> Path:
    """Where the CSV export of a run's consumer is written."""
    return data_dir / "exports" / f"run-{run_id}-c{position}.csv"


async def _export(run_id: int, position: int, data_dir: Path) -> dict[str, Any]:
    path = export_path(data_dir, run_id, position)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".csv.part")
    query = (
        f"SELECT {EXPORT_COLUMNS} FROM (SELECT r.contact_id, c.external_id, r.address,"
        " r.status, r.exclusion_reason, r.top_up::text AS top_up, d.position AS consumer"
        " FROM recipient r LEFT JOIN contact c ON c.id = r.contact_id"
        " LEFT JOIN (SELECT position, row_number() OVER (ORDER BY position) - 1 AS delivery_no"
        "  FROM run_consumer WHERE run_id = $1 AND kind = 'delivery') d"
        "  ON d.delivery_no = coalesce(r.delivery_no, 0)"
        " WHERE r.run_id = $1 ORDER BY r.contact_id, coalesce(r.delivery_no, 0)) list"
    )
    async with connections.get("default").acquire_connection() as raw:
        status = await raw.copy_from_query(
            query, run_id, output=str(partial), format="csv", header=True
        )
    partial.replace(path)  # readers never see a half-written file
    return {"file": str(path), "rows": int(status.split()[-1])}


async def _webhook(
    run_id: int, position: int, row: dict[str, Any], settings: dict[str, Any], retry: RetryPolicy
) -> dict[str, Any]:
    key = webhook_key(run_id, position)
    body = {
        "idempotency_key": key,
        "run_id": run_id,
        "plan_id": row["plan_id"],
        "database_id": row["database_id"],
        "funnel": _json(row["funnel"]) or {},
        "fields": settings.get("fields", {}),
    }

    async def post() -> int:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT) as http:
            try:
                response = await http.post(
                    settings["url"], json=body, headers={"Idempotency-Key": key}
                )
            except httpx.TimeoutException as exc:
                raise RetryableError(f"webhook timed out: {exc!r}", code="timeout") from exc
            except httpx.TransportError as exc:
                raise RetryableError(f"webhook: {exc!r}", code="connection") from exc
        if not response.is_success:
            raise classify_response(response)
        return response.status_code

    status = await send_with_retries(post, policy=retry)
    return {"status": status}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
