"""Delivery feedback from the platform becomes digital-message events of the contacts.

The platform POSTs `{"items": [...]}` to contactplan's webhook, signed with
`X-Signature: sha256=<hex HMAC-SHA256 of the body>`. One item::

    {"id": "dlv_1:17:opened", "delivery_id": "dlv_1", "reference": "contactplan:3:55:0",
     "channel": "email", "type": "opened", "contact_ref": "1042",
     "occurred_at": "2026-12-01T09:03:00+00:00", "subject": "...",
     "link_category": "promo", "url": "https://..."}   # the last two on clicks

Each becomes an `event` row of type `<channel>_<type>` (`email_opened`, `sms_delivered`...)
from the database's catalog, with external id `platform:<id>` (ingesting twice stores once).
Items of a type the catalog lacks (e.g. `sms_bounced` in the standard catalog), of a contact
not in the database, or malformed are skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections

from actors.platform_client import CHANNELS, DeliveryReference

FEEDBACK_TYPES = ("delivered", "bounced", "opened", "clicked")
SIGNATURE_HEADER = "X-Signature"
EXTERNAL_ID_PREFIX = "platform:"
MAX_ITEMS = 5_000
_PROPERTY_KEYS = ("delivery_id", "subject", "link_category", "url")


class InvalidFeedback(ValueError):
    """A webhook body that is not a signed `{"items": [...]}` document."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FeedbackResult:
    """What a webhook call did: items received, events stored, items skipped or already seen."""

    received: int
    stored: int


def sign_body(body: bytes, secret: str) -> str:
    """The `X-Signature` header value for `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """Whether `header` is the signature of `body` with `secret` (constant-time compare)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign_body(body, secret).encode(), header.strip().encode())


async def handle_feedback_webhook(
    body: bytes, signature: str | None, secret: str
) -> FeedbackResult:
    """The webhook's whole job: verify, parse, ingest per contact database.

    Raises `InvalidFeedback` (code `bad_signature` -> answer 401, `bad_body` -> 400).
    """
    if not verify_signature(body, signature, secret):
        raise InvalidFeedback("missing or wrong X-Signature", code="bad_signature")
    try:
        items = json.loads(body)["items"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidFeedback('the body must be JSON {"items": [...]}', code="bad_body") from exc
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise InvalidFeedback(f"items must be a list of at most {MAX_ITEMS}", code="bad_body")
    by_database: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        reference = DeliveryReference.parse(
            item.get("reference") if isinstance(item, dict) else None
        )
        if reference is not None:
            by_database.setdefault(reference.database_id, []).append(item)
    stored = 0
    for database_id, group in by_database.items():
        stored += await ingest_feedback(database_id, group)
    return FeedbackResult(received=len(items), stored=stored)


async def ingest_feedback(database_id: int, items: list[dict[str, Any]]) -> int:
    """Store feedback items as events of `database_id`; return how many new events were stored.

    One set-based INSERT ... SELECT; idempotent on the feedback id (partial unique index
    `event_external_id`).
    """
    rows = list(_event_rows(items))
    if not rows:
        return 0
    external_ids, contact_ids, type_keys, times, properties = map(list, zip(*rows, strict=True))
    result = await connections.get("default").execute_query_dict(
        _INSERT_EVENTS, [database_id, external_ids, contact_ids, type_keys, times, properties]
    )
    return int(result[0]["stored"])


_INSERT_EVENTS = """
WITH item AS (
    SELECT * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::text[])
        AS t(external_id, contact_id, type_key, occurred_at, properties)
), stored AS (
    INSERT INTO event (database_id, contact_id, event_type_id, external_id, occurred_at, properties)
    SELECT $1, c.id, et.id, item.external_id, item.occurred_at, item.properties::jsonb
    FROM item
    JOIN contact c ON c.id = item.contact_id AND c.database_id = $1
    JOIN catalog_event_type et ON et.database_id = $1 AND et.key = item.type_key
    ON CONFLICT (database_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
    RETURNING 1
)
SELECT count(*) AS stored FROM stored
"""


def _event_rows(items: Iterable[Any]) -> Iterable[tuple[str, int, str, datetime, str]]:
    """(external id, contact id, event type key, occurred at, properties JSON) per valid item."""
    seen: set[str] = set()
    for item in items:
        row = _event_row(item)
        if row is not None and row[0] not in seen:
            seen.add(row[0])
            yield row


def _event_row(item: Any) -> tuple[str, int, str, datetime, str] | None:
    if not isinstance(item, dict):
        return None
    feedback_id, contact_ref = item.get("id"), item.get("contact_ref")
    channel, kind = item.get("channel"), item.get("type")
    if not isinstance(feedback_id, str) or not 0 < len(feedback_id) <= 100:
        return None
    if not isinstance(contact_ref, str) or not contact_ref.isdigit() or len(contact_ref) > 18:
        return None
    if channel not in CHANNELS or kind not in FEEDBACK_TYPES:
        return None
    try:
        occurred_at = datetime.fromisoformat(item["occurred_at"])
    except (KeyError, TypeError, ValueError):
        return None
    if occurred_at.tzinfo is None:
        return None
    properties = {k: item[k] for k in _PROPERTY_KEYS if isinstance(item.get(k), str)}
    reference = DeliveryReference.parse(item.get("reference"))
    if reference is not None:
        properties["run_id"] = reference.run_id
    return (
        EXTERNAL_ID_PREFIX + feedback_id,
        int(contact_ref),
        f"{channel}_{kind}",
        occurred_at,
        json.dumps(properties),
    )
