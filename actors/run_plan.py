"""Evaluate a plan run: write its recipient list and funnel with set-based SQL, cut it in batches.

One transaction, holding the run's row lock (`FOR UPDATE SKIP LOCKED`, so a second `run_plan`
of the same run returns at once):

1. one `INSERT INTO recipient ... SELECT` from the segment SQL (a CTE) classifies every contact
   of the segment in a fixed precedence — no consent, no address for the channel, DND,
   control group (deterministic: a hash of plan and contact), contacts-number limit (window
   function over a per-run random order) — and numbers the batches of the ones to send;
2. if fewer than the wanted number remain: send anyway, top up from the rest of the database
   (a second `INSERT ... SELECT`) or fail the run;
3. delivery batches, run consumers and the funnel (`GROUP BY` status, reason) are written and
   the run moves to `delivering` (or `completed` when nothing is to be sent).

No contact list is ever held in Python. A crash rolls everything back; the tick re-enqueues a
run left in `pending`/`evaluating` that nobody holds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from actors.broker import actor
from actors.consumers import run_list_consumers
from actors.deliver import enqueue_pending_batches
from actors.dnd import blocked_contacts_cte, policy_for_plan
from actors.plan_options import (
    Consumer,
    InvalidPlan,
    PlanOptions,
    delivery_consumer,
    parse_consumers,
    parse_options,
)
from models.enums import Channel

log = logging.getLogger(__name__)

# channel -> (address column, consent column) of the contact table: a fixed code table.
CHANNEL_COLUMNS: dict[Channel, tuple[str, str]] = {
    Channel.EMAIL: ("email", "consent_email"),
    Channel.SMS: ("phone", "consent_sms"),
    Channel.PUSH: ("push_token", "consent_push"),
}
# Exclusion reasons, in the precedence the list applies them.
REASONS = ("no_consent", "no_address", "dnd", "control", "limit")
LIST_WORK_MEM = "256MB"
NOT_REACHED = "not_reached"  # the run failed: contacts number not reached (if_short=error)

SegmentSql = tuple[str, list[Any]]
SegmentCompiler = Callable[[Any, int, datetime], Awaitable[SegmentSql]]


class RunFailed(Exception):
    """The run cannot produce its list (bad plan, bad segment, contacts number not reached)."""


async def compile_run_segment(definition: Any, database_id: int, as_of: datetime) -> SegmentSql:
    """The segment's SQL (selecting `contact_id`) and bind values, at the run's as-of time.

    Referenced segments are read even when soft-deleted: a plan keeps working.
    """
    from segmentation.run import compile_for_database

    async def resolve(segment_id: int) -> Any | None:
        rows = await connections.get("default").execute_query_dict(
            "SELECT definition FROM segment WHERE id = $1 AND database_id = $2",
            [segment_id, database_id],
        )
        return _json(rows[0]["definition"]) if rows else None

    compiled = await compile_for_database(definition, database_id, as_of, resolve_segment=resolve)
    return compiled.sql, list(compiled.params)


class _Params:
    """Bind values after the segment's own: `add` returns the next `$n`."""

    def __init__(self, start: list[Any]) -> None:
        self.values = list(start)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def evaluate_run(
    run_id: int, *, compile_segment: SegmentCompiler = compile_run_segment
) -> str:
    """Write run `run_id`'s list, funnel and batches; return the run's state afterwards.

    Safe to call any number of times: a run already listed, or being listed by someone else,
    is left alone.
    """
    conn = connections.get("default")
    async with in_transaction() as tx:
        rows = await tx.execute_query_dict(
            "SELECT state FROM plan_run WHERE id = $1 FOR UPDATE SKIP LOCKED", [run_id]
        )
        if not rows:
            return await _state(conn, run_id) or "missing"
        if rows[0]["state"] not in ("pending", "evaluating"):
            return rows[0]["state"]
        await tx.execute_query(
            "UPDATE plan_run SET state = 'evaluating', started_at = coalesce(started_at, now()),"
            " heartbeat_at = now() WHERE id = $1",
            [run_id],
        )  # committed at once: progress shows `evaluating`
    try:
        async with in_transaction() as tx:
            rows = await tx.execute_query_dict(
                "SELECT r.id, r.plan_id, r.as_of, r.state, p.database_id, p.segment_id,"
                " p.dnd_policy_id, p.options, p.consumers, s.definition"
                " FROM plan_run r JOIN plan p ON p.id = r.plan_id"
                " JOIN segment s ON s.id = p.segment_id"  # soft-deleted segments still count
                " WHERE r.id = $1 FOR UPDATE OF r SKIP LOCKED",
                [run_id],
            )
            if not rows or rows[0]["state"] != "evaluating":
                return rows[0]["state"] if rows else (await _state(conn, run_id) or "missing")
            return await _write_list(tx, rows[0], compile_segment)
    except RunFailed as error:
        await _fail_run(conn, run_id, str(error))
        return "failed"


async def _write_list(
    tx: BaseDBAsyncClient, run: dict[str, Any], compile_segment: SegmentCompiler
) -> str:
    run_id = run["id"]
    try:
        options = parse_options(_json(run["options"]))
        consumers = parse_consumers(_json(run["consumers"]))
    except InvalidPlan as error:
        raise RunFailed(f"invalid plan: {error}") from error
    definition = _json(run["definition"])
    try:
        segment_sql, segment_params = await compile_segment(
            definition, run["database_id"], run["as_of"]
        )
    except ValueError as error:
        raise RunFailed(f"invalid segment: {error}") from error
    policy = await policy_for_plan(run["dnd_policy_id"], run["database_id"])
    delivery = delivery_consumer(consumers)
    channel = delivery.channel if delivery else None

    # Sorts and hashes of a million contacts stay in memory (this transaction only).
    await tx.execute_query(f"SET LOCAL work_mem = '{LIST_WORK_MEM}'")
    sql, params = _list_sql(
        run,
        options,
        channel,
        policy,
        f"({segment_sql})",
        segment_params,
        limit=options.contacts_max,
    )
    try:
        await tx.execute_query(sql, params)
    except OperationalError as error:  # the SQL itself is refused: retrying cannot help
        raise RunFailed(f"the segment could not be evaluated: {error}") from error
    funnel = await _funnel(tx, run_id)
    to_send = funnel["pending"]
    wanted = options.contacts_min
    if wanted is not None and to_send < wanted:
        if options.if_short == "error":
            raise RunFailed(f"contacts number not reached: {to_send} to send, {wanted} wanted")
        if options.if_short == "top_up":
            room = math.ceil(wanted * options.top_up_percent / 100)
            extra = min(wanted - to_send, room)
            if extra > 0:
                rest = (
                    "(SELECT c.id AS contact_id FROM contact c WHERE c.database_id = "
                    "$1 AND NOT EXISTS (SELECT 1 FROM recipient x WHERE x.run_id = $2 "
                    "AND x.contact_id = c.id))"
                )
                sql, params = _list_sql(
                    run, options, channel, policy, rest, [run["database_id"], run_id],
                    limit=extra, top_up=True, first_batch=await _next_batch(tx, run_id),
                )  # fmt: skip
                await tx.execute_query(sql, params)
                funnel = await _funnel(tx, run_id)
                funnel["top_up"] = funnel["pending"] - to_send
    batches = 0
    if delivery is not None:
        batches = await _create_batches(tx, run_id, delivery.position)
    await _create_consumers(tx, run_id, consumers)
    state = "delivering" if batches else "completed"
    await tx.execute_query(
        "UPDATE plan_run SET state = $2::varchar, funnel = $3::jsonb, segment_count = $4,"
        " segment_definition = $5::jsonb, listed_at = clock_timestamp(), heartbeat_at = now(),"
        " finished_at = CASE WHEN $2::varchar = 'completed' THEN now() END WHERE id = $1",
        [run_id, state, _dumps(funnel), funnel["segment"], _dumps(definition)],
    )
    return state


def _list_sql(
    run: dict[str, Any],
    options: PlanOptions,
    channel: Channel | None,
    policy: Any,
    source_sql: str,
    source_params: list[Any],
    *,
    limit: int | None,
    top_up: bool = False,
    first_batch: int = 0,
) -> tuple[str, list[Any]]:
    """One `INSERT INTO recipient ... SELECT` classifying every contact of `source_sql`."""
    p = _Params(source_params)
    run_id = p.add(run["id"])
    if channel is not None:
        address_column, consent_column = CHANNEL_COLUMNS[channel]
        address, consent = f"c.{address_column}", f"c.{consent_column}"
    else:  # no delivery: nobody needs an address or a consent
        address, consent = "NULL::varchar", "TRUE"
    control = "FALSE"
    if options.control_percent > 0 and not top_up:
        # Deterministic per plan: the same contacts stay in the control group run after run.
        control = (
            f"((hashtextextended(c.id::text, {p.add(run['plan_id'])}) % 10000 + 10000) % 10000)"
            f" < {p.add(round(options.control_percent * 100))}"
        )
    blocked = blocked_contacts_cte(policy, run["as_of"], run["id"], "src", p.add)
    no_address = "WHEN b.address IS NULL OR b.address = '' THEN 'no_address' " if channel else ""
    dnd_join = "LEFT JOIN blocked d ON d.contact_id = b.contact_id" if blocked else ""
    dnd_case = "WHEN d.contact_id IS NOT NULL THEN 'dnd' " if blocked else ""
    # A limit takes a per-run random sample; else contact order keeps the index inserts local.
    order = (
        f"ORDER BY hashtextextended(contact_id::text, {p.add(run['id'])}), contact_id"
        if limit is not None
        else "ORDER BY contact_id"
    )
    limit_sql = p.add(limit) if limit is not None else "NULL"
    batch_size = p.add(options.batch_size)
    first = p.add(first_batch)
    status_excluded = "'excluded'"
    sql = f"""
WITH src AS {"MATERIALIZED " if blocked else ""}(SELECT contact_id FROM {source_sql} seg),
{"blocked AS (" + blocked + ")," if blocked else ""}
base AS (
  SELECT c.id AS contact_id, {address} AS address, {consent} AS consent, {control} AS control
  FROM src JOIN contact c ON c.id = src.contact_id
),
classified AS (
  SELECT b.contact_id, b.address,
    CASE WHEN NOT b.consent THEN 'no_consent' {no_address}{dnd_case}
         WHEN b.control THEN 'control' END AS reason
  FROM base b {dnd_join}
),
ranked AS (
  SELECT contact_id, address, reason,
    CASE WHEN reason IS NULL THEN row_number() OVER (PARTITION BY reason IS NULL {order}) END
      AS rank
  FROM classified
)
INSERT INTO recipient (run_id, contact_id, address, status, exclusion_reason, batch_no)
SELECT {run_id}, contact_id, address,
  CASE WHEN reason = 'control' THEN 'control'
       WHEN reason IS NOT NULL OR rank > {limit_sql} THEN {status_excluded}
       ELSE 'pending' END,
  CASE WHEN reason IS NOT NULL THEN reason WHEN rank > {limit_sql} THEN 'limit' END,
  CASE WHEN reason IS NULL AND (rank <= {limit_sql} OR {limit_sql} IS NULL)
       THEN {first} + (rank - 1) / {batch_size} END
FROM ranked
{"WHERE reason IS NULL AND rank <= " + limit_sql if top_up else ""}
"""
    return sql, p.values


async def _funnel(tx: BaseDBAsyncClient, run_id: int) -> dict[str, int]:
    """Counts of the run's list: per exclusion reason, control, to send, the segment size."""
    rows = await tx.execute_query_dict(
        "SELECT status, exclusion_reason, count(*) AS n FROM recipient WHERE run_id = $1"
        " GROUP BY status, exclusion_reason",
        [run_id],
    )
    funnel = {reason: 0 for reason in REASONS} | {"pending": 0, "segment": 0}
    for row in rows:
        key = row["exclusion_reason"] or row["status"]
        funnel[key] = funnel.get(key, 0) + row["n"]
        funnel["segment"] += row["n"]
    return funnel


async def _next_batch(tx: BaseDBAsyncClient, run_id: int) -> int:
    rows = await tx.execute_query_dict(
        "SELECT coalesce(max(batch_no) + 1, 0) AS n FROM recipient WHERE run_id = $1", [run_id]
    )
    return rows[0]["n"]


async def _create_batches(tx: BaseDBAsyncClient, run_id: int, position: int) -> int:
    rows = await tx.execute_query_dict(
        "WITH made AS (INSERT INTO delivery_batch"
        " (run_id, consumer_position, batch_no, size, status, attempts)"
        " SELECT $1, $2, batch_no, count(*), 'pending', 0 FROM recipient"
        " WHERE run_id = $1 AND status = 'pending' GROUP BY batch_no"
        " ON CONFLICT (run_id, consumer_position, batch_no) DO NOTHING RETURNING 1)"
        " SELECT count(*) AS n FROM made",
        [run_id, position],
    )
    return rows[0]["n"]


async def _create_consumers(tx: BaseDBAsyncClient, run_id: int, consumers: list[Consumer]) -> None:
    for consumer in consumers:
        await tx.execute_query(
            "INSERT INTO run_consumer (run_id, position, kind, channel, status, stats)"
            " VALUES ($1, $2, $3, $4, 'pending', '{}'::jsonb)"
            " ON CONFLICT (run_id, position) DO NOTHING",
            [run_id, consumer.position, consumer.kind, consumer.channel],
        )


async def _fail_run(conn: BaseDBAsyncClient, run_id: int, error: str) -> None:
    """Mark the run failed (and its plan in error); the run holds no list."""
    log.warning("run %s failed: %s", run_id, error)
    await conn.execute_query(
        "WITH r AS (UPDATE plan_run SET state = 'failed', error = $2, finished_at = now()"
        " WHERE id = $1 AND state IN ('pending', 'evaluating') RETURNING plan_id)"
        " UPDATE plan SET state = 'error', updated_at = now() FROM r WHERE plan.id = r.plan_id",
        [run_id, error],
    )


async def _state(conn: BaseDBAsyncClient, run_id: int) -> str | None:
    rows = await conn.execute_query_dict("SELECT state FROM plan_run WHERE id = $1", [run_id])
    return rows[0]["state"] if rows else None


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


@actor(queue_name="plans", max_retries=3)
async def run_plan(run_id: int) -> None:
    """Dramatiq actor: write the run's list, run its export and webhook, enqueue its batches."""
    from contactplan.settings import Settings

    state = await evaluate_run(run_id)
    if state in ("delivering", "completed", "paused"):  # listed: its consumers may run
        await run_list_consumers(run_id, data_dir=Settings.from_env().data_dir)
    if state == "delivering":
        await enqueue_pending_batches(run_id)
