"""Contacts and their events: look up, page through events, delete, and the batch loaders
behind nested fields. Row visibility (database grants) is in every query's WHERE."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from tortoise import connections

from models import Contact, Event, PlanRun
from permissions.audit import record_audit
from permissions.errors import BadArgument, InputError, NotFound
from permissions.principal import Principal
from permissions.rules import database_q
from resolvers.catalog import existing_database
from resolvers.context import RequestContext
from resolvers.outcome import transaction, with_outcome
from resolvers.paging import Page, SortKey, keyset_page

MAX_RUNS = 500
MAX_EXTERNAL_ID = 128


async def get_contact(principal: Principal, contact_id: int) -> Contact:
    """A contact of a database the principal sees; NOT_FOUND otherwise."""
    row = await Contact.filter(database_q(principal), id=contact_id).first()
    if row is None:
        raise NotFound("Contact", contact_id)
    return row


async def contacts_visible(principal: Principal, ids: list[int]) -> dict[int, Contact]:
    """The contacts among `ids` the principal may see, by id."""
    return {c.id: c for c in await Contact.filter(database_q(principal), id__in=ids)}


async def events_visible(principal: Principal, ids: list[int]) -> dict[int, Event]:
    """The events among `ids` the principal may see, by id."""
    return {e.id: e for e in await Event.filter(database_q(principal), id__in=ids)}


async def get_contact_by_external_id(
    principal: Principal, database_id: int, external_id: str
) -> Contact:
    """A contact by its external id in a database the principal sees; NOT_FOUND otherwise."""
    await existing_database(principal, database_id)
    if "\x00" in external_id or len(external_id) > MAX_EXTERNAL_ID:  # PostgreSQL refuses NUL
        raise NotFound("Contact", external_id[:MAX_EXTERNAL_ID])
    row = await Contact.get_or_none(database_id=database_id, external_id=external_id)
    if row is None:
        raise NotFound("Contact", external_id)
    return row


async def contact_events(
    contact: Contact,
    *,
    types: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    first: int | None,
    after: str | None,
    count_total: bool,
) -> Page[Event]:
    """A page of a contact's events, newest first, optionally of some event types (keys)
    and within [since, until)."""
    if since is not None and until is not None and since >= until:
        raise BadArgument("since must be before until.")
    query = Event.filter(contact_id=contact.id, database_id=contact.database_id)  # type: ignore[attr-defined]
    if types is not None:
        if any("\x00" in t for t in types):
            raise BadArgument("types must not contain NUL characters.")
        query = query.filter(event_type__key__in=types)
    if since is not None:
        query = query.filter(occurred_at__gte=since)
    if until is not None:
        query = query.filter(occurred_at__lt=until)
    return await keyset_page(
        query,
        [SortKey("occurred_at", descending=True)],
        first=first,
        after=after,
        count_total=count_total,
    )


# ---- batch loaders (used through ctx.loader) ------------------------------------------------
async def contacts_by_id(ids: list[int]) -> list[Contact | None]:
    """Contacts by id (visibility is checked where the id came from)."""
    rows = {c.id: c for c in await Contact.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def personal_attribute_keys(database_ids: list[int]) -> list[dict[str, bool]]:
    """Per database, its attribute fields in catalog order -> whether each is personal data."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT database_id, key, pii FROM catalog_field"
        " WHERE database_id = ANY($1::int[]) AND storage = 'attribute' ORDER BY position, id",
        [database_ids],
    )
    keys: dict[int, dict[str, bool]] = defaultdict(dict)
    for row in rows:
        keys[row["database_id"]][row["key"]] = row["pii"]
    return [keys.get(i, {}) for i in database_ids]


@dataclass(frozen=True)
class RunsKey:
    """One contact's runs to load: the newest `first` of its database's plans."""

    contact_id: int
    database_id: int
    first: int


async def runs_of_contacts(keys: list[RunsKey]) -> list[list[PlanRun]]:
    """Per contact, the plan runs it was a recipient of (any status), newest first."""
    limit = max(k.first for k in keys)
    rows = await connections.get("default").execute_query_dict(
        """
        SELECT r.contact_id, r.run_id FROM (
          SELECT rc.contact_id, rc.run_id,
                 row_number() OVER (PARTITION BY rc.contact_id ORDER BY rc.run_id DESC) AS n
            FROM recipient rc
            JOIN plan_run pr ON pr.id = rc.run_id
            JOIN plan p ON p.id = pr.plan_id
            JOIN unnest($1::bigint[], $2::int[]) AS k(contact_id, database_id)
              ON k.contact_id = rc.contact_id AND k.database_id = p.database_id
           WHERE rc.delivery_no IS NULL  -- the first delivery's list names every contact once
        ) r WHERE r.n <= $3 ORDER BY r.contact_id, r.run_id DESC
        """,
        [[k.contact_id for k in keys], [k.database_id for k in keys], limit],
    )
    runs = {r.id: r for r in await PlanRun.filter(id__in={row["run_id"] for row in rows})}
    by_contact: dict[int, list[PlanRun]] = defaultdict(list)
    for row in rows:
        by_contact[row["contact_id"]].append(runs[row["run_id"]])
    return [by_contact.get(k.contact_id, [])[: k.first] for k in keys]


def runs_limit(first: int | None) -> int:
    """How many runs to list, 1..MAX_RUNS (default 50)."""
    if first is None:
        return 50
    if not 1 <= first <= MAX_RUNS:
        raise BadArgument(f"first must be between 1 and {MAX_RUNS}.")
    return first


# ---- delete -------------------------------------------------------------------------------
@with_outcome
async def delete_contact(ctx: RequestContext, principal: Principal, contact_id: int) -> int:
    """Delete a contact with its events (run reports keep their recipient rows); audited."""
    contact = await get_contact(principal, contact_id)
    async with transaction(on_conflict=InputError((), "The contact is in use.", "CONFLICT")):
        events = await Event.filter(contact_id=contact.id).count()
        await Contact.filter(id=contact.id).delete()
        await record_audit(
            principal,
            "delete",
            "contact",
            contact.id,
            database_id=contact.database_id,  # type: ignore[attr-defined]
            before={"external_id": contact.external_id, "events": events},
            request_id=ctx.request_id,
        )
    return contact.id
