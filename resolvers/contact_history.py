"""A contact's history: the runs it was in, what it was sent, and what it did (feedback events).

`contact_history(principal, contact_id, first=, after=)` pages the contact's recipient rows;
`feedback_for(ctx, recipient)` gives one row's feedback events, batched per request.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections

from models import Recipient
from permissions.errors import NotFound
from permissions.principal import Principal
from permissions.rules import can_see_database
from resolvers.context import RequestContext
from resolvers.paging import Page, SortKey, keyset_page
from resolvers.reports import FEEDBACK_KEYS


@dataclass(frozen=True)
class FeedbackEvent:
    """One feedback event of a contact for a run's message."""

    kind: str  # delivered | bounced | opened | clicked
    channel: str
    occurred_at: datetime
    subject: str | None
    link_category: str | None
    url: str | None


async def contact_database(principal: Principal, contact_id: int) -> int:
    """The database of a contact the principal may see; NOT_FOUND otherwise."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT database_id FROM contact WHERE id = $1", [contact_id]
    )
    if not rows or not can_see_database(principal, rows[0]["database_id"]):
        raise NotFound("Contact", contact_id)
    return rows[0]["database_id"]


async def contact_history(
    principal: Principal, contact_id: int, *, first: int | None, after: str | None
) -> Page[Recipient]:
    """The contact's recipient rows (one per run it was in), newest run first."""
    database_id = await contact_database(principal, contact_id)
    query = Recipient.filter(contact_id=contact_id, run__plan__database_id=database_id)
    return await keyset_page(
        query.select_related("run", "run__plan"),
        [SortKey("run__scheduled_for", descending=True)],
        first=first,
        after=after,
    )


_FEEDBACK = """
SELECT e.contact_id, (e.properties->>'run_id')::bigint AS run_id, et.key, e.occurred_at,
       e.properties->>'subject' AS subject, e.properties->>'link_category' AS link_category,
       e.properties->>'url' AS url
  FROM event e JOIN catalog_event_type et ON et.id = e.event_type_id
 WHERE e.contact_id = ANY($1::bigint[]) AND et.key = ANY($2::text[])
   AND e.properties->>'run_id' = ANY($3::text[])
 ORDER BY e.occurred_at, e.id
"""


async def _feedback_by_pair(pairs: list[tuple[int, int]]) -> list[list[FeedbackEvent]]:
    contacts = sorted({c for c, _ in pairs})
    runs = sorted({str(r) for _, r in pairs})
    rows = await connections.get("default").execute_query_dict(
        _FEEDBACK, [contacts, FEEDBACK_KEYS, runs]
    )
    found: dict[tuple[int, int], list[FeedbackEvent]] = defaultdict(list)
    for row in rows:
        channel, _, kind = row["key"].partition("_")
        found[row["contact_id"], row["run_id"]].append(
            FeedbackEvent(
                kind, channel, row["occurred_at"], row["subject"], row["link_category"], row["url"]
            )
        )
    return [found.get(pair, []) for pair in pairs]


async def feedback_for(ctx: RequestContext, recipient: Any) -> list[FeedbackEvent]:
    """The feedback events of a recipient row's contact for its run."""
    loader = ctx.loader("contact_run_feedback", _feedback_by_pair)
    return await loader.load((recipient.contact_id, recipient.run_id))
