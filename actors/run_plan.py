"""Evaluate a plan run: write its recipient list and funnel with set-based SQL, cut it in batches.

One transaction, holding the run's row lock (`FOR UPDATE SKIP LOCKED`, so a second `run_plan`
of the same run returns at once):

1. one `INSERT INTO recipient ... SELECT` from the segment SQL (a CTE) classifies every contact
   of the segment in a fixed precedence — no consent, no address for the channel, member of
   the exclusion segment, frequency cap (sent anything in the last N days), DND, control group
   (deterministic: a hash of plan and contact), contacts-number limit (window function over a
   per-run random order) — numbers the batches of the ones to send (a running count in contact
   order), and returns the funnel (`RETURNING` counted per reason) in the same pass;
2. if fewer than the wanted number remain: send anyway, top up from the rest of the database
   (a second `INSERT ... SELECT`, rows flagged `top_up`) or fail the run;
3. delivery batches (computed from the counts: no pass over the list) and run consumers are
   written and the run moves to `delivering` (or `completed` when nothing is to be sent).

A plan with several deliveries (an email and an SMS...) gets steps 1-3 once per delivery: the
(k+1)-th delivery's rows carry `recipient.delivery_no` k (the first's NULL: a single-delivery
list writes exactly what it wrote before) and its channel's consent and address
rules (a contact with no phone is excluded from the SMS, `no_address`, and still gets the
email), DND counting the messages of the deliveries listed before it. `plan_run.funnel` is the
first delivery's (each contact once) plus `consumers`: the funnel per delivery position.

No contact list is ever held in Python. A crash rolls everything back; the tick re-enqueues a
run left in `pending`/`evaluating` that nobody holds. What made a 1,000,000-contact list cheap
(measured with `python -m bench.delivery`): no per-row foreign-key check on `recipient.run_id`,
inserts in contact order, an index of pending recipients only (`0004_delivery`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    delivery_consumers,
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
REASONS = (
    "no_consent",
    "no_address",
    "exclusion_segment",
    "frequency_cap",
    "dnd",
    "control",
    "limit",
)
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
    segment = await _compile(compile_segment, definition, run, "segment")
    exclusion = None
    if options.exclusion_segment_id is not None:
        exclusion = await _compile(
            compile_segment,
            await _segment_definition(tx, options.exclusion_segment_id, run["database_id"]),
            run,
            "exclusion segment",
        )
    policy = await policy_for_plan(run["dnd_policy_id"], run["database_id"])
    deliveries = delivery_consumers(consumers)
    # Sorts and hashes of a million contacts stay in memory (this transaction only). The
    # list reads every member: PostgreSQL's default random_page_cost plans it better than
    # the connections' 1.1 (contactplan/db.py), 6.7 s instead of 8.1-8.9 s for 633,641
    # recipients of 1M contacts (python -m bench.delivery).
    await tx.execute_query(f"SET LOCAL work_mem = '{LIST_WORK_MEM}'")
    await tx.execute_query("SET LOCAL random_page_cost = 4")
    funnel: dict[str, Any] = {}
    per_consumer: dict[str, dict[str, int]] = {}
    batches = 0
    # One list per delivery (its channel's consent and address); a plan without a delivery
    # has one list, no channel. The run's funnel is the first list's: contacts counted once.
    for slot, delivery in enumerate(deliveries) if deliveries else [(0, None)]:
        channel = delivery.channel if delivery else None
        rules = ListRules(options, channel, policy, exclusion, slot)
        counts, to_send, top_up = await _write_slot(tx, run, rules, segment)
        if delivery is not None:
            batches += await _create_batches(
                tx, run_id, delivery.position, options.batch_size, to_send, top_up
            )
            per_consumer[str(delivery.position)] = counts
        if slot == 0:
            funnel = dict(counts)
    if len(deliveries) > 1:
        funnel["consumers"] = per_consumer
    await _create_consumers(tx, run_id, consumers)
    state = "delivering" if batches else "completed"
    await tx.execute_query(
        "UPDATE plan_run SET state = $2::varchar, funnel = $3::jsonb, segment_count = $4,"
        " segment_definition = $5::jsonb, listed_at = clock_timestamp(), heartbeat_at = now(),"
        " finished_at = CASE WHEN $2::varchar = 'completed' THEN now() END WHERE id = $1",
        [run_id, state, _dumps(funnel), funnel["segment"], _dumps(definition)],
    )
    return state


async def _write_slot(
    tx: BaseDBAsyncClient, run: dict[str, Any], rules: ListRules, segment: SegmentSql
) -> tuple[dict[str, int], int, int]:
    """Write one list of the run (one delivery's, or the only one): its funnel counts, the
    rows to send from the segment and the rows added by a top-up."""
    options, run_id = rules.options, run["id"]
    sql, params = _list_sql(run, rules, f"({segment[0]})", segment[1], limit=options.contacts_max)
    funnel = await _insert_list(tx, sql, params)
    funnel["segment"] = sum(funnel.values())
    funnel = {reason: 0 for reason in REASONS} | {"pending": 0} | funnel
    to_send = funnel["pending"]
    wanted = options.contacts_min
    top_up = 0
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
                    f"AND {_slot_predicate('x', rules.slot)} AND x.contact_id = c.id))"
                )
                sql, params = _list_sql(
                    run, rules, rest, [run["database_id"], run_id], limit=extra,
                    top_up=True, first_batch=_batch_count(to_send, options.batch_size),
                )  # fmt: skip
                top_up = (await _insert_list(tx, sql, params)).get("pending", 0)
                funnel["pending"] += top_up
                funnel["top_up"] = top_up
    return funnel, to_send, top_up


async def _compile(
    compile_segment: SegmentCompiler, definition: Any, run: dict[str, Any], what: str
) -> SegmentSql:
    try:
        return await compile_segment(definition, run["database_id"], run["as_of"])
    except ValueError as error:
        raise RunFailed(f"invalid {what}: {error}") from error


async def _segment_definition(tx: BaseDBAsyncClient, segment_id: int, database_id: int) -> Any:
    """A segment's definition (soft-deleted ones too: a plan keeps working)."""
    rows = await tx.execute_query_dict(
        "SELECT definition FROM segment WHERE id = $1 AND database_id = $2",
        [segment_id, database_id],
    )
    if not rows:
        raise RunFailed(f"the exclusion segment {segment_id} is not in this database")
    return _json(rows[0]["definition"])


async def _insert_list(tx: BaseDBAsyncClient, sql: str, params: list[Any]) -> dict[str, int]:
    """Run a list INSERT; its rows counted per exclusion reason, `control` or `pending`."""
    try:
        rows = await tx.execute_query_dict(sql, params)
    except OperationalError as error:  # the SQL itself is refused: retrying cannot help
        raise RunFailed(f"the segment could not be evaluated: {error}") from error
    return {row["reason"]: int(row["n"]) for row in rows}


@dataclass(frozen=True)
class ListRules:
    """What decides who of a run's source is sent: options, channel, DND, exclusion segment."""

    options: PlanOptions
    channel: Channel | None
    policy: Any
    exclusion: SegmentSql | None = None
    slot: int = 0  # which delivery of the plan (`recipient.delivery_no`; the first: 0, NULL)


def _list_sql(
    run: dict[str, Any],
    rules: ListRules,
    source_sql: str,
    source_params: list[Any],
    *,
    limit: int | None,
    top_up: bool = False,
    first_batch: int = 0,
) -> tuple[str, list[Any]]:
    """One `INSERT INTO recipient ... SELECT` classifying every contact of `source_sql`,
    returning the count of its rows per reason (the funnel, in the same pass)."""
    from segmentation.run import shift_params

    options = rules.options
    p = _Params(source_params)
    run_id = p.add(run["id"])
    slot = p.add(rules.slot) if rules.slot else None  # the first delivery: the column default
    if rules.channel is not None:
        address_column, consent_column = CHANNEL_COLUMNS[rules.channel]
        address, consent = f"c.{address_column}", f"c.{consent_column}"
    else:  # no delivery: nobody needs an address or a consent
        address, consent = "NULL::varchar", "TRUE"
    cases = [f"WHEN NOT {consent} THEN 'no_consent'"]
    if rules.channel is not None:
        cases.append(f"WHEN {address} IS NULL OR {address} = '' THEN 'no_address'")
    # Joins, not `IN (subquery)`: a hashed subplan too big for work_mem is re-scanned per row.
    ctes, joins = [], []
    if rules.exclusion is not None:
        excluded = shift_params(rules.exclusion[0], len(p.values))
        p.values.extend(rules.exclusion[1])
        ctes.append(f"excluded AS (SELECT DISTINCT x.contact_id FROM ({excluded}) x)")
        joins.append("LEFT JOIN excluded xs ON xs.contact_id = c.id")
        cases.append("WHEN xs.contact_id IS NOT NULL THEN 'exclusion_segment'")
    if options.frequency_cap_days:
        since = p.add(run["as_of"] - timedelta(days=options.frequency_cap_days))
        ctes.append(
            "capped AS (SELECT DISTINCT f.contact_id FROM recipient f WHERE f.status = 'sent'"
            f" AND f.sent_at >= {since} AND f.contact_id IN (SELECT contact_id FROM src))"
        )
        joins.append("LEFT JOIN capped fc ON fc.contact_id = c.id")
        cases.append("WHEN fc.contact_id IS NOT NULL THEN 'frequency_cap'")
    blocked = blocked_contacts_cte(
        rules.policy, run["as_of"], run["id"], "src", p.add, earlier_slots=rules.slot
    )
    if blocked:
        ctes.append(f"blocked AS ({blocked})")
        joins.append("LEFT JOIN blocked d ON d.contact_id = c.id")
        cases.append("WHEN d.contact_id IS NOT NULL THEN 'dnd'")
    if options.control_percent > 0 and not top_up:
        # Deterministic per plan: the same contacts stay in the control group run after run.
        cases.append(
            f"WHEN ((hashtextextended(c.id::text, {p.add(run['plan_id'])}) % 10000 + 10000)"
            f" % 10000) < {p.add(round(options.control_percent * 100))} THEN 'control'"
        )
    if limit is not None:  # a per-run random sample of the eligible contacts
        order = f"hashtextextended(contact_id::text, {p.add(run['id'])}), contact_id"
        rank = f"row_number() OVER (PARTITION BY reason IS NULL ORDER BY {order})"
        limit_sql = p.add(limit)
        over_limit = f"rank > {limit_sql}"
    else:
        # A running count in contact order: index inserts stay local (half the CPU of the
        # arrival order), and every batch is a range of contact ids.
        rank = (
            "count(*) FILTER (WHERE reason IS NULL)"
            " OVER (ORDER BY contact_id ROWS UNBOUNDED PRECEDING)"
        )
        over_limit = "FALSE"
    batch_size = p.add(options.batch_size)
    first = p.add(first_batch)
    sql = f"""
WITH src AS (SELECT contact_id FROM {source_sql} seg),
{"".join(cte + "," for cte in ctes)}
classified AS (
  SELECT c.id AS contact_id, {address} AS address, CASE {" ".join(cases)} END AS reason
  FROM src JOIN contact c ON c.id = src.contact_id {" ".join(joins)}
),
ranked AS (
  SELECT contact_id, address, reason, CASE WHEN reason IS NULL THEN {rank} END AS rank
  FROM classified
),
listed AS (
  INSERT INTO recipient (run_id, contact_id, address, status, exclusion_reason, batch_no,
    top_up{", delivery_no" if slot else ""})
  SELECT {run_id}, contact_id, address,
    CASE WHEN reason = 'control' THEN 'control'
         WHEN reason IS NOT NULL OR {over_limit} THEN 'excluded' ELSE 'pending' END,
    CASE WHEN reason IS NOT NULL THEN reason WHEN {over_limit} THEN 'limit' END,
    CASE WHEN reason IS NULL AND NOT {over_limit} THEN {first} + (rank - 1) / {batch_size} END,
    {"TRUE" if top_up else "FALSE"}{f", {slot}::smallint" if slot else ""}
  FROM ranked
  {"WHERE reason IS NULL AND NOT " + over_limit if top_up else ""}
  RETURNING status, exclusion_reason
)
SELECT coalesce(exclusion_reason, status) AS reason, count(*) AS n FROM listed GROUP BY 1
"""
    return sql, p.values


def _slot_predicate(alias: str, slot: int) -> str:
    """SQL matching the rows of delivery `slot` (a code constant, so the planner matches the
    partial unique indexes of 0004_delivery)."""
    return f"{alias}.delivery_no IS NULL" if slot == 0 else f"{alias}.delivery_no = {int(slot)}"


def _batch_count(rows: int, batch_size: int) -> int:
    return -(-rows // batch_size)


async def _create_batches(
    tx: BaseDBAsyncClient, run_id: int, position: int, batch_size: int, listed: int, added: int
) -> int:
    """The delivery batches of a list numbered densely from 0: `listed` rows, then `added`
    top-up rows from the next batch number; no pass over the recipients."""
    first_added = _batch_count(listed, batch_size)
    rows = await tx.execute_query_dict(
        "WITH parts(first, n) AS (VALUES (0, $3::bigint), ($5::int, $4::bigint)),"
        " made AS (INSERT INTO delivery_batch"
        " (run_id, consumer_position, batch_no, size, status, attempts)"
        " SELECT $1, $2, parts.first + g, least($6::bigint, parts.n - g::bigint * $6), 'pending', 0"
        " FROM parts, generate_series(0, (parts.n + $6 - 1) / $6 - 1) g WHERE parts.n > 0"
        " ON CONFLICT (run_id, consumer_position, batch_no) DO NOTHING RETURNING 1)"
        " SELECT count(*) AS n FROM made",
        [run_id, position, listed, added, first_added, batch_size],
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
