"""Run reports: what each plan run did, read with set-based SQL from the run, its recipients,
its consumers and batches, and the platform's feedback events (`event.properties.run_id`).

    reports = await load_reports(principal, [run_id, ...])      # visible runs only, same order
    report = await report_for_run(ctx, principal, run_id)       # batched per request (DataLoader)

A recipient list is never loaded into Python: the funnel is a `GROUP BY` over `recipient`,
feedback counts a `GROUP BY` over the run's feedback events. A run of a plan with several
deliveries (email and SMS...) has recipient rows per delivery (`delivery_no`): the run's funnel
is the first delivery's (each contact once), each delivery consumer counts its own sends,
pending recipients and exclusions (a contact with no phone is excluded from the SMS only).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.expressions import Q, Subquery

from actors.feedback import FEEDBACK_TYPES
from actors.platform_client import CHANNELS
from models import PlanRun, RunConsumer
from permissions.errors import BadArgument, NotFound
from permissions.principal import Principal
from permissions.rules import can_see_database, database_predicate
from resolvers.context import RequestContext
from resolvers.paging import Page, SortKey, keyset_page

FEEDBACK_KEYS = [f"{channel}_{kind}" for channel in CHANNELS for kind in FEEDBACK_TYPES]
MAX_DAYS = 3660
MAX_RUNS_PER_DOWNLOAD = 500


@dataclass(frozen=True)
class FeedbackCounts:
    """Feedback events of one delivery: totals and distinct contacts per kind."""

    delivered: int = 0
    bounced: int = 0
    unique_opens: int = 0
    total_opens: int = 0
    unique_clicks: int = 0
    total_clicks: int = 0


@dataclass(frozen=True)
class ConsumerReport:
    """What one consumer of a run did."""

    position: int
    kind: str
    channel: str | None
    delivery_id: str | None
    status: str
    sent: int
    failed: int
    feedback: FeedbackCounts
    batches: int
    failed_batches: int
    attempts: int
    error: str | None
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    stats: dict[str, Any] = field(default_factory=dict)
    pending: int = 0  # a delivery's recipients not sent yet
    excluded: dict[str, int] = field(default_factory=dict)  # a delivery's exclusions per reason

    @property
    def errors(self) -> int:
        """Failed recipients of a delivery; 1 for a failed export or webhook."""
        if self.kind == "delivery":
            return self.failed
        return 1 if self.status in ("failed", "error") else 0


@dataclass(frozen=True)
class RunReport:
    """The report of one plan run."""

    run_id: int
    database_id: int
    plan_id: int
    plan_name: str
    segment_id: int
    segment_name: str
    author_id: int
    author_name: str
    plan_created_at: datetime
    trigger: str
    state: str
    scheduled_for: datetime
    as_of: datetime
    segment_size: int | None
    excluded: dict[str, int]  # reason -> contacts (control group not included)
    control: int
    recipients: int  # to be sent: pending + sent + failed
    sent: int
    failed: int
    pending: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    listed_at: datetime | None
    finished_at: datetime | None
    consumers: tuple[ConsumerReport, ...]

    @property
    def run_at(self) -> datetime:
        """When the run started (its scheduled time until it starts)."""
        return self.started_at or self.scheduled_for

    @property
    def channel(self) -> str | None:
        return next((c.channel for c in self.consumers if c.kind == "delivery"), None)

    @property
    def evaluation_seconds(self) -> float | None:
        return _seconds(self.started_at, self.listed_at)

    @property
    def delivery_seconds(self) -> float | None:
        return _seconds(self.listed_at, self.finished_at)

    @property
    def total_seconds(self) -> float | None:
        return _seconds(self.started_at, self.finished_at)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


_RUNS = """
SELECT r.id, p.database_id, r.plan_id, p.name AS plan_name, p.segment_id, s.name AS segment_name,
       p.author_id, coalesce(nullif(u.display_name, ''), u.username) AS author_name,
       p.created_at AS plan_created_at, r.trigger, r.state, r.scheduled_for, r.as_of,
       r.segment_count, r.error, r.created_at, r.started_at, r.listed_at, r.finished_at
  FROM plan_run r
  JOIN plan p ON p.id = r.plan_id
  JOIN segment s ON s.id = p.segment_id
  JOIN app_user u ON u.id = p.author_id
 WHERE r.id = ANY($1::bigint[]) AND {visible}
"""

_FUNNEL = """
SELECT run_id, coalesce(delivery_no, 0) AS delivery_no, status,
       coalesce(exclusion_reason, '') AS reason, count(*) AS n
  FROM recipient WHERE run_id = ANY($1::bigint[])
 GROUP BY run_id, 2, status, exclusion_reason
"""

_CONSUMERS = """
SELECT rc.run_id, rc.position, rc.kind, rc.channel, rc.platform_delivery_id, rc.status,
       rc.stats::text AS stats, rc.error,
       count(b.id) AS batches, count(b.id) FILTER (WHERE b.status = 'failed') AS failed_batches,
       coalesce(sum(b.attempts), 0) AS attempts,
       (array_agg(b.last_error ORDER BY b.batch_no) FILTER (WHERE b.last_error IS NOT NULL))[1]
           AS batch_error,
       min(b.sent_at) AS first_sent_at, max(b.sent_at) AS last_sent_at
  FROM run_consumer rc
  LEFT JOIN delivery_batch b ON b.run_id = rc.run_id AND b.consumer_position = rc.position
 WHERE rc.run_id = ANY($1::bigint[])
 GROUP BY rc.id
 ORDER BY rc.run_id, rc.position
"""

# Feedback events carry the run id and the platform's delivery id in their properties; the
# partial index event_feedback_run (0005_api) finds one run's feedback directly.
_FEEDBACK = """
SELECT r.id AS run_id, f.delivery_id, f.kind, f.total, f.contacts
  FROM plan_run r
  JOIN plan p ON p.id = r.plan_id
 CROSS JOIN LATERAL (
       SELECT e.properties->>'delivery_id' AS delivery_id, split_part(et.key, '_', 2) AS kind,
              count(*) AS total, count(DISTINCT e.contact_id) AS contacts
         FROM catalog_event_type et
         JOIN event e ON e.event_type_id = et.id
        WHERE et.database_id = p.database_id AND et.key = ANY($2::text[])
          AND e.properties ? 'run_id' AND e.properties->>'run_id' = r.id::text
        GROUP BY 1, 2) f
 WHERE r.id = ANY($1::bigint[])
"""


async def load_reports(principal: Principal, run_ids: list[int]) -> list[RunReport | None]:
    """The reports of these runs, in order; None for a run the principal may not see."""
    if not run_ids:
        return []
    db = connections.get("default")
    params: list[Any] = [list(set(run_ids))]
    visible = database_predicate(principal, "p.database_id", params)
    runs = await db.execute_query_dict(_RUNS.format(visible=visible), params)
    ids = [row["id"] for row in runs]
    if not ids:
        return [None] * len(run_ids)
    funnel_rows = await db.execute_query_dict(_FUNNEL, [ids])
    consumer_rows = await db.execute_query_dict(_CONSUMERS, [ids])
    feedback_rows = await db.execute_query_dict(_FEEDBACK, [ids, FEEDBACK_KEYS])
    funnels: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in funnel_rows:
        funnels[row["run_id"]].append(row)
    consumers: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in consumer_rows:
        consumers[row["run_id"]].append(row)
    feedback: dict[tuple[int, str | None], dict[str, tuple[int, int]]] = defaultdict(dict)
    for row in feedback_rows:
        feedback[row["run_id"], row["delivery_id"]][row["kind"]] = (row["total"], row["contacts"])
    built = {
        row["id"]: _report(row, funnels[row["id"]], consumers[row["id"]], feedback) for row in runs
    }
    return [built.get(i) for i in run_ids]


def _report(
    run: dict[str, Any],
    funnel: list[dict[str, Any]],
    consumers: list[dict[str, Any]],
    feedback: dict[tuple[int, str | None], dict[str, tuple[int, int]]],
) -> RunReport:
    # Per delivery (`recipient.delivery_no`): status and exclusion counts. The run's funnel is
    # the first delivery's list (each contact once); each delivery counts its own sends.
    by_status: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    excluded_by: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in funnel:
        by_status[row["delivery_no"]][row["status"]] += row["n"]
        if row["status"] == "excluded":
            excluded_by[row["delivery_no"]][row["reason"] or "unknown"] += row["n"]
    first, excluded = by_status[0], excluded_by[0]
    sent, failed, pending = first["sent"], first["failed"], first["pending"]
    slots = {
        row["position"]: slot
        for slot, row in enumerate(r for r in consumers if r["kind"] == "delivery")
    }
    return RunReport(
        run_id=run["id"],
        database_id=run["database_id"],
        plan_id=run["plan_id"],
        plan_name=run["plan_name"],
        segment_id=run["segment_id"],
        segment_name=run["segment_name"],
        author_id=run["author_id"],
        author_name=run["author_name"],
        plan_created_at=run["plan_created_at"],
        trigger=run["trigger"],
        state=run["state"],
        scheduled_for=run["scheduled_for"],
        as_of=run["as_of"],
        segment_size=run["segment_count"],
        excluded=dict(sorted(excluded.items())),
        control=first["control"],
        recipients=sent + failed + pending,
        sent=sent,
        failed=failed,
        pending=pending,
        error=run["error"],
        created_at=run["created_at"],
        started_at=run["started_at"],
        listed_at=run["listed_at"],
        finished_at=run["finished_at"],
        consumers=tuple(
            _consumer(
                run["id"],
                row,
                by_status[slots.get(row["position"], 0)],
                excluded_by[slots.get(row["position"], 0)],
                feedback,
            )
            for row in consumers
        ),
    )


def _consumer(
    run_id: int,
    row: dict[str, Any],
    statuses: dict[str, int],
    excluded: dict[str, int],
    feedback: dict[tuple[int, str | None], dict[str, tuple[int, int]]],
) -> ConsumerReport:
    delivery = row["kind"] == "delivery"
    sent, failed = statuses["sent"], statuses["failed"]
    counts = feedback.get((run_id, row["platform_delivery_id"]), {}) if delivery else {}

    def total(kind: str) -> int:
        return counts.get(kind, (0, 0))[0]

    def unique(kind: str) -> int:
        return counts.get(kind, (0, 0))[1]

    stats = json.loads(row["stats"]) if row["stats"] else {}
    return ConsumerReport(
        position=row["position"],
        kind=row["kind"],
        channel=row["channel"],
        delivery_id=row["platform_delivery_id"],
        status=row["status"],
        sent=sent if delivery else int(stats.get("rows", stats.get("sent", 0)) or 0),
        failed=failed if delivery else 0,
        feedback=FeedbackCounts(
            delivered=unique("delivered"),
            bounced=unique("bounced"),
            unique_opens=unique("opened"),
            total_opens=total("opened"),
            unique_clicks=unique("clicked"),
            total_clicks=total("clicked"),
        ),
        batches=row["batches"],
        failed_batches=row["failed_batches"],
        attempts=int(row["attempts"]),
        error=row["error"] or row["batch_error"],
        first_sent_at=row["first_sent_at"],
        last_sent_at=row["last_sent_at"],
        stats=stats if isinstance(stats, dict) else {},
        pending=statuses["pending"] if delivery else 0,
        excluded=dict(sorted(excluded.items())) if delivery else {},
    )


async def _reports_by_id(principal: Principal, ids: list[int]) -> list[RunReport | None]:
    return await load_reports(principal, ids)


async def report_for_run(
    ctx: RequestContext, principal: Principal, run_id: int
) -> RunReport | None:
    """The report of one run (batched with the other runs of the request); None if not visible.

    For `PlanRun.report`: `await report_for_run(info.context, principal_of(info), run.id)`.
    """
    loader = ctx.loader("run_report", lambda ids: _reports_by_id(principal, ids))
    return await loader.load(run_id)


async def get_report(principal: Principal, run_id: int) -> RunReport:
    """The report of a visible run; NOT_FOUND otherwise."""
    (report,) = await load_reports(principal, [run_id])
    if report is None:
        raise NotFound("PlanRun", run_id)
    return report


async def get_reports(principal: Principal, run_ids: list[int]) -> list[RunReport]:
    """The reports of visible runs, in order; NOT_FOUND naming the first run not visible."""
    reports = await load_reports(principal, run_ids)
    for run_id, report in zip(run_ids, reports, strict=True):
        if report is None:
            raise NotFound("PlanRun", run_id)
    return [r for r in reports if r is not None]


@dataclass(frozen=True)
class ReportFilter:
    """Optional filters of a report search (primary keys, enum values)."""

    plan_id: int | None = None
    segment_id: int | None = None
    author_id: int | None = None
    state: str | None = None
    channel: str | None = None


async def search_reports(
    principal: Principal,
    database_id: int,
    *,
    days: int = 30,
    filters: ReportFilter | None = None,
    first: int | None = None,
    after: str | None = None,
    now: datetime | None = None,
) -> Page[RunReport]:
    """Reports of the (non-test) runs of the last `days` days of a visible database, newest
    run first."""
    if not can_see_database(principal, database_id):
        raise NotFound("Database", database_id)
    if not 1 <= days <= MAX_DAYS:
        raise BadArgument(f"days must be between 1 and {MAX_DAYS}.")
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    query = PlanRun.filter(plan__database_id=database_id, scheduled_for__gte=since).exclude(
        trigger="test"  # test sends are kept apart from real runs and their reports
    )
    f = filters or ReportFilter()
    if f.plan_id is not None:
        query = query.filter(plan_id=f.plan_id)
    if f.segment_id is not None:
        query = query.filter(plan__segment_id=f.segment_id)
    if f.author_id is not None:
        query = query.filter(plan__author_id=f.author_id)
    if f.state is not None:
        query = query.filter(state=f.state)
    if f.channel is not None:
        with_channel = RunConsumer.filter(kind="delivery", channel=f.channel).values("run_id")
        query = query.filter(Q(id__in=Subquery(with_channel)))
    page = await keyset_page(
        query, [SortKey("scheduled_for", descending=True)], first=first, after=after
    )
    reports = await load_reports(principal, [run.id for run in page.rows])
    kept = [(r, c) for r, c in zip(reports, page.cursors, strict=True) if r is not None]
    return Page(
        rows=[r for r, _ in kept],
        cursors=[c for _, c in kept],
        has_next=page.has_next,
        has_previous=page.has_previous,
        total=page.total,
    )
