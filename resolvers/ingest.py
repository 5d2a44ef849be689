"""Partners' batch writes: upsert contacts by external id, ingest events by event id.

Every item is validated against the database's catalog first; if any item is wrong nothing
is written and every mistake comes back with its path (`contacts.3.attributes.points`).
A valid batch is written set-based, in one transaction, with the columns bound as arrays and
zipped by `unnest`: contacts by `INSERT … ON CONFLICT (database_id, external_id) DO NOTHING`
then one `UPDATE … FROM unnest(…)` merging the given fields into the current rows (so a
concurrent batch's change of an omitted field is never overwritten); events by `INSERT …
ON CONFLICT (database_id, external_id) WHERE external_id IS NOT NULL DO NOTHING`. A batch
is all or nothing and re-sending it changes nothing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from asyncpg.exceptions import TransactionRollbackError
from tortoise import connections
from tortoise.transactions import in_transaction

from models import Contact
from permissions.audit import record_audit
from permissions.errors import InputError, InvalidInput
from permissions.principal import Principal
from resolvers.catalog import existing_database
from resolvers.context import RequestContext
from resolvers.outcome import with_outcome
from segmentation import Catalog, load_catalog
from segmentation.values import from_json_attribute

MAX_BATCH = 1000
WRITE_ATTEMPTS = 3  # a batch that deadlocks with a concurrent one is retried whole
MAX_TEXT = 1000  # a string attribute or property
MAX_LIST = 1000  # items of a string_list attribute
MAX_VALUE = Decimal("1e12")  # event.value is numeric(14, 2)

# Contact columns a partner may set: input name -> (column, maximum length).
TEXT_COLUMNS: dict[str, tuple[str, int]] = {
    "email": ("email", 320),
    "phone": ("phone", 32),
    "pushToken": ("push_token", 255),
    "firstName": ("first_name", 100),
    "lastName": ("last_name", 100),
    "gender": ("gender", 16),
    "city": ("city", 100),
    "region": ("region", 100),
    "country": ("country", 2),
    "language": ("language", 8),
}
BOOL_COLUMNS: dict[str, str] = {
    "consentEmail": "consent_email",
    "consentSms": "consent_sms",
    "consentPush": "consent_push",
}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,31}$")
COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")


@dataclass
class UpsertResult:
    """The contacts of a batch in input order and what happened to them."""

    contacts: list[Contact]
    created: int
    updated: int
    unchanged: int


@dataclass
class IngestResult:
    """How many events of a batch were new and how many were already there."""

    ingested: int
    duplicates: int


def _error(path: Sequence[object], message: str, code: str = "INVALID") -> InputError:
    return InputError(tuple(str(p) for p in path), message, code)


def _batch_size_error(name: str, size: int) -> list[InputError]:
    if size > MAX_BATCH:
        return [
            _error(
                (name,),
                f"At most {MAX_BATCH} items per call ({size} sent): split the batch.",
                "BATCH_TOO_LARGE",
            )
        ]
    return []


def _text_error(path: Sequence[object], value: object, max_length: int) -> InputError | None:
    if not isinstance(value, str):
        return _error(path, "Expected text.")
    if "\x00" in value:
        return _error(path, "Text must not contain NUL characters.")
    if len(value) > max_length:
        return _error(path, f"At most {max_length} characters.", "TOO_LONG")
    return None


def _id_error(path: Sequence[object], value: object) -> InputError | None:
    if isinstance(value, str) and not value.strip():
        return _error(path, "Must not be empty.", "REQUIRED")
    return _text_error(path, value, 128)


def typed_value_error(
    path: Sequence[object], value: Any, data_type: str, enum_values: Sequence[str] = ()
) -> InputError | None:
    """Why a JSON value does not fit a catalog data type (None if it fits)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if data_type == "string":
        return _text_error(path, value, MAX_TEXT)
    if data_type == "enum":
        if value not in enum_values:
            return _error(path, f"Expected one of: {', '.join(enum_values)}.")
        return None
    if data_type == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
        return None if ok else _error(path, "Expected a whole number.")
    if data_type == "decimal":
        ok = is_number and math.isfinite(value) and abs(value) < 1e15
        return None if ok else _error(path, "Expected a number.")
    if data_type == "boolean":
        return None if isinstance(value, bool) else _error(path, "Expected true or false.")
    if data_type == "date":
        # the same strict pattern segment SQL reads dates with (else they would read as null)
        if from_json_attribute(data_type, value) is None:
            return _error(path, "Expected a calendar day, YYYY-MM-DD.")
        return None
    if data_type == "datetime":
        if from_json_attribute(data_type, value) is None:
            return _error(path, "Expected an ISO 8601 date and time with a UTC offset.")
        return None
    if data_type == "string_list":
        if not isinstance(value, list) or len(value) > MAX_LIST:
            return _error(path, f"Expected a list of at most {MAX_LIST} texts.")
        for i, item in enumerate(value):
            error = _text_error([*path, i], item, MAX_TEXT)
            if error:
                return error
        return None
    return _error(path, f"Values of type {data_type} cannot be written.")


# ---- contacts -----------------------------------------------------------------------------
def _column_enums(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {
        f.column: f.enum_values
        for f in catalog.fields.values()
        if f.storage == "column" and f.data_type == "enum" and f.column
    }


def _contact_errors(
    index: int, item: dict[str, Any], catalog: Catalog, enums: dict[str, tuple[str, ...]]
) -> list[InputError]:
    base: list[object] = ["contacts", index]
    errors: list[InputError] = []

    def add(error: InputError | None) -> None:
        if error is not None:
            errors.append(error)

    add(_id_error([*base, "externalId"], item.get("externalId")))
    for name, (column, max_length) in TEXT_COLUMNS.items():
        value = item.get(name)
        if value is None:
            continue
        path = [*base, name]
        error = _text_error(path, value, max_length)
        if error is None and name == "email" and not EMAIL_RE.match(value):
            error = _error(path, "Expected an e-mail address.")
        if error is None and name == "phone" and not PHONE_RE.match(value):
            error = _error(path, "Expected a phone number (digits, optional leading +).")
        if error is None and name == "country" and not COUNTRY_RE.match(value):
            error = _error(path, "Expected a two-letter ISO country code.")
        if error is None and column in enums and value not in enums[column]:
            error = _error(path, f"Expected one of: {', '.join(enums[column])}.")
        add(error)
    for name in BOOL_COLUMNS:
        if name in item and item[name] is None:
            add(_error([*base, name], "Expected true or false.", "REQUIRED"))
    attributes = item.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        add(_error([*base, "attributes"], "Expected an object of field key -> value."))
    for key, value in (attributes or {}).items() if isinstance(attributes, dict) else ():
        path = [*base, "attributes", key]
        f = catalog.fields.get(key)
        if f is None or f.storage != "attribute":
            add(_error(path, f"No attribute field {key!r} in the catalog.", "UNKNOWN_FIELD"))
        elif value is not None:
            add(typed_value_error(path, value, f.data_type, f.enum_values))
    return errors


def _duplicates(values: Sequence[object], name: str, field: str) -> list[InputError]:
    seen: set[object] = set()
    errors = []
    for i, value in enumerate(values):
        if value in seen:
            errors.append(_error((name, i, field), "Repeated within the batch.", "DUPLICATE"))
        seen.add(value)
    return errors


# Settable columns in the order of the statements' arrays ($3 .. $16); bit i of `given`
# says the item set column i (an omitted column keeps its stored value, null clears it).
SETTABLE = [
    *(column for column, _ in TEXT_COLUMNS.values()),
    "birth_date",
    *BOOL_COLUMNS.values(),
]
NOT_NULL = set(BOOL_COLUMNS.values())


def _input_rows() -> str:
    """The batch as rows: one bound array per column, zipped by unnest."""
    arrays = ", ".join(
        f"${n + 3}::{'date' if c == 'birth_date' else 'bool' if c in NOT_NULL else 'text'}[]"
        for n, c in enumerate(SETTABLE)
    )
    return (
        f"unnest($2::text[], {arrays}, ${len(SETTABLE) + 3}::text[], ${len(SETTABLE) + 4}::int[])"
        f" WITH ORDINALITY AS i(external_id, {', '.join(SETTABLE)}, attributes, given, ord)"
    )


def _merged(n: int, column: str) -> str:
    """Column `column` after the item: its value if given, else the row's (read in the UPDATE
    itself, so a concurrent change of an omitted column is kept, never overwritten)."""
    return f"CASE WHEN i.given & {1 << n} <> 0 THEN i.{column} ELSE c.{column} END"


_MERGED_ATTRIBUTES = (
    "CASE WHEN i.attributes IS NULL THEN c.attributes"
    " ELSE jsonb_strip_nulls(c.attributes || i.attributes::jsonb) END"
)

# New contacts; rows that exist (or are being inserted by a concurrent batch) are skipped
# here and merged by the UPDATE that follows in the same transaction.
INSERT_CONTACTS_SQL = f"""
INSERT INTO contact (database_id, external_id, {", ".join(SETTABLE)}, attributes,
                     created_at, updated_at)
SELECT $1, i.external_id,
       {", ".join(f"COALESCE(i.{c}, false)" if c in NOT_NULL else f"i.{c}" for c in SETTABLE)},
       jsonb_strip_nulls(COALESCE(i.attributes::jsonb, '{{}}'::jsonb)), now(), now()
  FROM {_input_rows()}
 ORDER BY i.ord
ON CONFLICT (database_id, external_id) DO NOTHING
RETURNING id
"""

# Existing contacts: the given columns and attribute keys merged into the current row;
# rows that would not change are left alone (and counted unchanged).
UPDATE_CONTACTS_SQL = f"""
UPDATE contact c
   SET {", ".join(f"{col} = {_merged(n, col)}" for n, col in enumerate(SETTABLE))},
       attributes = {_MERGED_ATTRIBUTES}, updated_at = now()
  FROM {_input_rows()}
 WHERE c.database_id = $1 AND c.external_id = i.external_id
   AND ({", ".join(f"c.{col}" for col in SETTABLE)}, c.attributes)
       IS DISTINCT FROM ({", ".join(_merged(n, col) for n, col in enumerate(SETTABLE))},
                         {_MERGED_ATTRIBUTES})
RETURNING c.id
"""


def _contact_arrays(items: list[dict[str, Any]]) -> list[Any]:
    """The statement's parameters after $1: one array per column, attributes, given-mask."""
    names = [*TEXT_COLUMNS, "birthDate", *BOOL_COLUMNS]
    columns: list[list[Any]] = [[] for _ in names]
    attributes: list[str | None] = []
    given: list[int] = []
    for item in items:
        mask = 0
        for n, name in enumerate(names):
            if name in item:
                mask |= 1 << n
            value = item.get(name)
            if name == "country" and value is not None:
                value = value.upper()
            columns[n].append(value)
        raw = item.get("attributes")
        attributes.append(None if raw is None else json.dumps(raw))
        given.append(mask)
    return [[item["externalId"] for item in items], *columns, attributes, given]


@with_outcome
async def upsert_contacts(
    ctx: RequestContext,
    principal: Principal,
    database_id: int,
    items: list[dict[str, Any]],
    *,
    load_contacts: bool = True,
) -> UpsertResult:
    """Create or update contacts by external id. Each item holds only the input fields the
    caller set (an omitted field keeps its value; attributes merge, a null removes a key).
    `load_contacts=False` skips reading the stored rows back (result.contacts stays empty)."""
    await existing_database(principal, database_id)
    errors = _batch_size_error("contacts", len(items))
    if errors:
        raise InvalidInput(errors)
    catalog = await load_catalog(database_id)
    enums = _column_enums(catalog)
    for index, item in enumerate(items):
        errors.extend(_contact_errors(index, item, catalog, enums))
    errors.extend(_duplicates([i.get("externalId") for i in items], "contacts", "externalId"))
    if errors:
        raise InvalidInput(sorted(errors, key=_error_order))
    if not items:
        return UpsertResult([], 0, 0, 0)
    # sorted by external id, so concurrent batches lock shared rows in the same order
    params = [database_id, *_contact_arrays(sorted(items, key=lambda i: i["externalId"]))]
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            created, updated = await _write_contacts(ctx, principal, database_id, params)
            break
        except TransactionRollbackError:  # deadlock with a concurrent batch: all rolled back
            if attempt == WRITE_ATTEMPTS:
                raise
    external_ids = [item["externalId"] for item in items]
    stored = (
        {
            c.external_id: c
            for c in await Contact.filter(database_id=database_id, external_id__in=external_ids)
        }
        if load_contacts
        else {}
    )
    return UpsertResult(
        contacts=[stored[e] for e in external_ids if e in stored],
        created=created,
        updated=updated,
        unchanged=len(items) - created - updated,
    )


async def _write_contacts(
    ctx: RequestContext, principal: Principal, database_id: int, params: list[Any]
) -> tuple[int, int]:
    """Insert the new contacts and merge into the existing ones, in one transaction."""
    async with in_transaction() as conn:
        created = len(await conn.execute_query_dict(INSERT_CONTACTS_SQL, params))
        # rows inserted just now are unchanged by the merge, so this counts real updates
        updated = len(await conn.execute_query_dict(UPDATE_CONTACTS_SQL, params))
        if created or updated:
            await record_audit(
                principal,
                "upsert",
                "contacts",
                None,
                database_id=database_id,
                after={"created": created, "updated": updated},
                request_id=ctx.request_id,
            )
    return created, updated


# ---- events -------------------------------------------------------------------------------
INGEST_EVENTS_SQL = """
INSERT INTO event (database_id, contact_id, event_type_id, external_id, occurred_at, value,
                   properties)
SELECT $1, c.id, i.event_type_id, i.external_id, i.occurred_at, i.value, i.properties::jsonb
  FROM unnest($2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::numeric[], $7::text[])
       WITH ORDINALITY AS i(external_id, contact_external_id, event_type_id, occurred_at,
                            value, properties, ord)
  JOIN contact c ON c.database_id = $1 AND c.external_id = i.contact_external_id
 ORDER BY i.ord
ON CONFLICT (database_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
RETURNING id
"""


def _event_errors(index: int, item: dict[str, Any], catalog: Catalog) -> list[InputError]:
    base: list[object] = ["events", index]
    errors = [
        e
        for e in (
            _id_error([*base, "eventId"], item.get("eventId")),
            _id_error([*base, "contactExternalId"], item.get("contactExternalId")),
        )
        if e is not None
    ]
    occurred_at = item.get("occurredAt")
    if not isinstance(occurred_at, datetime) or occurred_at.utcoffset() is None:
        errors.append(_error([*base, "occurredAt"], "Expected a date and time with UTC offset."))
    value = item.get("value")
    if value is not None and (
        not isinstance(value, Decimal) or not value.is_finite() or abs(value) >= MAX_VALUE
    ):
        errors.append(_error([*base, "value"], f"Expected a number below {MAX_VALUE:,.0f}."))
    event_type = catalog.event_types.get(item.get("type") or "")
    if event_type is None:
        errors.append(
            _error([*base, "type"], "No such event type in the catalog.", "UNKNOWN_EVENT_TYPE")
        )
    properties = item.get("properties")
    if properties is not None and not isinstance(properties, dict):
        errors.append(_error([*base, "properties"], "Expected an object of key -> value."))
    elif properties and event_type is not None:
        for key, prop_value in properties.items():
            path = [*base, "properties", key]
            prop = event_type.properties.get(key)
            if prop is None:
                errors.append(
                    _error(
                        path,
                        f"Event type {event_type.key!r} has no property {key!r}.",
                        "UNKNOWN_PROPERTY",
                    )
                )
            elif prop_value is not None:
                error = typed_value_error(path, prop_value, prop.data_type)
                if error is not None:
                    errors.append(error)
    return errors


async def _missing_contacts(database_id: int, external_ids: list[str]) -> set[str]:
    rows = await connections.get("default").execute_query_dict(
        "SELECT external_id FROM contact WHERE database_id = $1 AND external_id = ANY($2::text[])",
        [database_id, external_ids],
    )
    return set(external_ids) - {r["external_id"] for r in rows}


@with_outcome
async def ingest_events(
    ctx: RequestContext, principal: Principal, database_id: int, items: list[dict[str, Any]]
) -> IngestResult:
    """Record events of existing contacts; an event id already recorded is skipped, so a
    batch can be re-sent safely."""
    await existing_database(principal, database_id)
    errors = _batch_size_error("events", len(items))
    if errors:
        raise InvalidInput(errors)
    catalog = await load_catalog(database_id)
    for index, item in enumerate(items):
        errors.extend(_event_errors(index, item, catalog))
    errors.extend(_duplicates([i.get("eventId") for i in items], "events", "eventId"))
    contact_ids = [
        i["contactExternalId"] for i in items if isinstance(i.get("contactExternalId"), str)
    ]
    missing = await _missing_contacts(database_id, contact_ids) if contact_ids else set()
    for index, item in enumerate(items):
        if item.get("contactExternalId") in missing:
            errors.append(
                _error(
                    ("events", index, "contactExternalId"),
                    "No contact with this external id.",
                    "NOT_FOUND",
                )
            )
    if errors:
        raise InvalidInput(sorted(errors, key=_error_order))
    if not items:
        return IngestResult(0, 0)
    # sorted by event id, so concurrent batches wait for each other's new ids in one order
    items = sorted(items, key=lambda i: i["eventId"])
    params = [
        database_id,
        [i["eventId"] for i in items],
        [i["contactExternalId"] for i in items],
        [catalog.event_types[i["type"]].id for i in items],
        [i["occurredAt"] for i in items],
        [i.get("value") for i in items],
        [
            json.dumps({k: v for k, v in (i.get("properties") or {}).items() if v is not None})
            for i in items
        ],
    ]
    async with in_transaction() as conn:
        ingested = len(await conn.execute_query_dict(INGEST_EVENTS_SQL, params))
        result = IngestResult(ingested=ingested, duplicates=len(items) - ingested)
        if ingested:
            await record_audit(
                principal,
                "ingest",
                "events",
                None,
                database_id=database_id,
                after={"ingested": result.ingested, "duplicates": result.duplicates},
                request_id=ctx.request_id,
            )
    return result


def _error_order(error: InputError) -> tuple[int, str]:
    index = error.path[1] if len(error.path) > 1 and error.path[1].isdigit() else "-1"
    return int(index), ".".join(error.path[2:])
