"""Report downloads: reports as CSV rows or an Excel workbook, optionally with the recipients.

    async for chunk in reports_csv(reports): ...                      # one row per consumer
    async for chunk in recipients_csv(run_ids, personal_data=False): ...  # streamed from a cursor
    async for chunk in reports_xlsx(reports, recipients_of=run_ids, personal_data=False): ...

Recipients are read with a server-side cursor and written as they come (CSV) or into a
write-only workbook spooled to a temporary file (xlsx): never a whole list in memory.
Personal data (address, per-recipient error text) is written only with `personal_data=True`.
Recipients are rows per delivery consumer (`consumer`: its position; a plan with an email and
an SMS lists a contact twice), each with that delivery's feedback.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from tortoise import connections

from actors.run_plan import REASONS
from resolvers.reports import FEEDBACK_KEYS, ConsumerReport, RunReport

CHUNK_ROWS = 2_000
FILE_CHUNK = 256 * 1024
EXCEL_MAX_ROWS = 1_048_576
EXCLUSION_REASONS = [r for r in REASONS if r != "control"]

Getter = Callable[[RunReport, ConsumerReport | None], Any]


def _consumer(get: Callable[[ConsumerReport], Any]) -> Getter:
    return lambda _report, consumer: None if consumer is None else get(consumer)


def _excluded(reason: str) -> Getter:
    return lambda report, _consumer: report.excluded.get(reason, 0)


def _other_excluded(report: RunReport, _consumer: ConsumerReport | None) -> int:
    return sum(n for reason, n in report.excluded.items() if reason not in EXCLUSION_REASONS)


REPORT_COLUMNS: list[tuple[str, Getter]] = [
    ("run_id", lambda r, _: r.run_id),
    ("plan_id", lambda r, _: r.plan_id),
    ("plan", lambda r, _: r.plan_name),
    ("author", lambda r, _: r.author_name),
    ("plan_created_at", lambda r, _: r.plan_created_at),
    ("scheduled_for", lambda r, _: r.scheduled_for),
    ("run_at", lambda r, _: r.run_at),
    ("trigger", lambda r, _: r.trigger),
    ("state", lambda r, _: r.state),
    ("segment_id", lambda r, _: r.segment_id),
    ("segment", lambda r, _: r.segment_name),
    ("segment_size", lambda r, _: r.segment_size),
    *[(f"excluded_{reason}", _excluded(reason)) for reason in EXCLUSION_REASONS],
    ("excluded_other", _other_excluded),
    ("control_group", lambda r, _: r.control),
    ("recipients", lambda r, _: r.recipients),
    ("evaluation_seconds", lambda r, _: r.evaluation_seconds),
    ("delivery_seconds", lambda r, _: r.delivery_seconds),
    ("total_seconds", lambda r, _: r.total_seconds),
    ("run_error", lambda r, _: r.error),
    ("consumer", _consumer(lambda c: c.position)),
    ("consumer_kind", _consumer(lambda c: c.kind)),
    ("channel", _consumer(lambda c: c.channel)),
    ("delivery_id", _consumer(lambda c: c.delivery_id)),
    ("delivery_status", _consumer(lambda c: c.status)),
    ("sent", _consumer(lambda c: c.sent)),
    ("delivered", _consumer(lambda c: c.feedback.delivered)),
    ("bounced", _consumer(lambda c: c.feedback.bounced)),
    ("unique_opens", _consumer(lambda c: c.feedback.unique_opens)),
    ("total_opens", _consumer(lambda c: c.feedback.total_opens)),
    ("unique_clicks", _consumer(lambda c: c.feedback.unique_clicks)),
    ("total_clicks", _consumer(lambda c: c.feedback.total_clicks)),
    ("errors", _consumer(lambda c: c.errors)),
    ("consumer_error", _consumer(lambda c: c.error)),
    ("first_batch_sent_at", _consumer(lambda c: c.first_sent_at)),
    ("last_batch_sent_at", _consumer(lambda c: c.last_sent_at)),
]


def report_rows(reports: Iterable[RunReport]) -> Iterable[list[Any]]:
    """One row per consumer of each report (one row for a report without consumers)."""
    for report in reports:
        for consumer in report.consumers or (None,):
            yield [get(report, consumer) for _, get in REPORT_COLUMNS]


def recipient_columns(personal_data: bool) -> list[str]:
    """Columns of the recipients table; address and error text only with personal data."""
    columns = ["run_id", "consumer", "contact_id", "external_id", "status", "exclusion_reason"]
    columns += ["batch_no"]
    columns += ["sent_at", "delivered", "bounced", "opens", "clicks"]
    return columns + (["address", "error"] if personal_data else [])


_RECIPIENTS = """
WITH runs AS (
    SELECT r.id, r.created_at, p.database_id FROM plan_run r JOIN plan p ON p.id = r.plan_id
     WHERE r.id = ANY($1::bigint[])
), deliveries AS (  -- the (k+1)-th delivery of a run: recipient.delivery_no k (first: NULL)
    SELECT run_id, position, platform_delivery_id,
           (row_number() OVER (PARTITION BY run_id ORDER BY position) - 1)::int AS delivery_no
      FROM run_consumer WHERE run_id = ANY($1::bigint[]) AND kind = 'delivery'
), feedback AS (
    SELECT e.contact_id, (e.properties->>'run_id')::bigint AS run_id,
           coalesce(d.delivery_no, 0) AS delivery_no,
           count(*) FILTER (WHERE et.key LIKE '%\\_delivered') AS delivered,
           count(*) FILTER (WHERE et.key LIKE '%\\_bounced') AS bounced,
           count(*) FILTER (WHERE et.key LIKE '%\\_opened') AS opens,
           count(*) FILTER (WHERE et.key LIKE '%\\_clicked') AS clicks
      FROM catalog_event_type et JOIN event e ON e.event_type_id = et.id
      LEFT JOIN deliveries d ON d.run_id::text = e.properties->>'run_id'
            AND d.platform_delivery_id = e.properties->>'delivery_id'
     WHERE et.database_id IN (SELECT database_id FROM runs) AND et.key = ANY($2::text[])
       AND e.occurred_at >= (SELECT min(created_at) FROM runs)
       AND e.properties->>'run_id' = ANY($3::text[])
     GROUP BY 1, 2, 3
)
SELECT r.run_id, d.position AS consumer, r.contact_id, c.external_id, r.status,
       r.exclusion_reason, r.batch_no, r.sent_at, coalesce(f.delivered, 0) AS delivered,
       coalesce(f.bounced, 0) AS bounced,
       coalesce(f.opens, 0) AS opens, coalesce(f.clicks, 0) AS clicks{personal}
  FROM recipient r
  LEFT JOIN contact c ON c.id = r.contact_id
  LEFT JOIN deliveries d ON d.run_id = r.run_id AND d.delivery_no = coalesce(r.delivery_no, 0)
  LEFT JOIN feedback f ON f.contact_id = r.contact_id AND f.run_id = r.run_id
        AND f.delivery_no = coalesce(r.delivery_no, 0)
 WHERE r.run_id = ANY($1::bigint[])
 ORDER BY r.run_id, r.contact_id, coalesce(r.delivery_no, 0)
"""


async def recipient_batches(
    run_ids: Sequence[int], *, personal_data: bool, limit: int | None = None
) -> AsyncIterator[list[list[Any]]]:
    """The recipients of these runs (already authorized) in lists of up to CHUNK_ROWS rows."""
    sql = _RECIPIENTS.format(personal=", r.address, r.error" if personal_data else "")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    params = [list(run_ids), FEEDBACK_KEYS, [str(i) for i in run_ids]]
    async with connections.get("default").acquire_connection() as conn, conn.transaction():
        cursor = await conn.cursor(sql, *params)
        while rows := await cursor.fetch(CHUNK_ROWS):
            yield [list(row.values()) for row in rows]


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def _csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode()


async def reports_csv(reports: Sequence[RunReport]) -> AsyncIterator[bytes]:
    """The reports as CSV (UTF-8 with a BOM so spreadsheet programs read accents right)."""
    yield b"\xef\xbb\xbf" + _csv_bytes([[name for name, _ in REPORT_COLUMNS]])
    yield _csv_bytes(report_rows(reports))


async def recipients_csv(run_ids: Sequence[int], *, personal_data: bool) -> AsyncIterator[bytes]:
    """The recipients of the runs as CSV, streamed chunk by chunk."""
    yield b"\xef\xbb\xbf" + _csv_bytes([recipient_columns(personal_data)])
    async for rows in recipient_batches(run_ids, personal_data=personal_data):
        yield _csv_bytes(rows)


def _excel_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: UTC wall time
    return value


async def reports_xlsx(
    reports: Sequence[RunReport],
    *,
    recipients_of: Sequence[int] = (),
    personal_data: bool = False,
) -> AsyncIterator[bytes]:
    """An Excel workbook: sheet "Reports", and "Recipients" of `recipients_of` if any."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Reports")
    sheet.append([name for name, _ in REPORT_COLUMNS])
    for row in report_rows(reports):
        sheet.append([_excel_value(v) for v in row])
    if recipients_of:
        people = book.create_sheet("Recipients")
        people.append(recipient_columns(personal_data))
        async for rows in recipient_batches(
            recipients_of, personal_data=personal_data, limit=EXCEL_MAX_ROWS - 1
        ):
            await asyncio.to_thread(_append, people, rows)
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as file:
        await asyncio.to_thread(book.save, file)
        file.seek(0)
        while chunk := await asyncio.to_thread(file.read, FILE_CHUNK):
            yield chunk


def _append(sheet: Any, rows: list[list[Any]]) -> None:
    for row in rows:
        sheet.append([_excel_value(v) for v in row])
