"""Delivery feedback: signatures, ingest into events, and the sink's webhook end to end."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tortoise import connections

from actors.feedback import (
    InvalidFeedback,
    handle_feedback_webhook,
    ingest_feedback,
    sign_body,
    verify_signature,
)
from actors.platform_client import DeliveryReference
from models.contacts import Contact
from models.standard_catalog import create_contact_database
from tests.actors.conftest import WEBHOOK_SECRET, Sink, served_in_this_loop

AT = "2026-12-01T09:00:00+00:00"


async def shop(name: str = "Shop", contacts: int = 3) -> tuple[int, list[int]]:
    database = await create_contact_database(name, timezone="Europe/Rome")
    ids = []
    for n in range(contacts):
        contact = await Contact.create(
            database=database, external_id=f"{name}-{n}", email=f"{name}{n}@example.com"
        )
        ids.append(contact.id)
    return database.id, ids


def item(feedback_id: str, contact_id: int | str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": feedback_id,
        "delivery_id": "dlv_1",
        "reference": "contactplan:1:77:0",
        "channel": "email",
        "type": kind,
        "contact_ref": str(contact_id),
        "occurred_at": AT,
        "subject": "Winter sale",
    } | extra


async def events(database_id: int) -> list[dict[str, Any]]:
    return await connections.get("default").execute_query_dict(
        "SELECT e.contact_id, t.key, e.external_id, e.occurred_at, e.properties"
        " FROM event e JOIN catalog_event_type t ON t.id = e.event_type_id"
        " WHERE e.database_id = $1 ORDER BY e.external_id",
        [database_id],
    )


def props(row: dict[str, Any]) -> dict[str, Any]:
    value = row["properties"]
    return json.loads(value) if isinstance(value, str) else value


# --- signatures ------------------------------------------------------------------------------


def test_a_signature_verifies_only_the_same_body_and_secret():
    body = b'{"items":[]}'
    header = sign_body(body, "s3cret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, header, "s3cret")
    assert not verify_signature(body + b" ", header, "s3cret")
    assert not verify_signature(body, header, "other")
    assert not verify_signature(body, header.replace("sha256=", "sha1="), "s3cret")
    assert not verify_signature(body, None, "s3cret")
    assert not verify_signature(body, "", "s3cret")
    assert not verify_signature(body, header, "")  # no secret configured: nothing verifies


# --- ingest ----------------------------------------------------------------------------------


async def test_feedback_items_become_message_events_of_the_contacts(db):
    database_id, (ann, bob, cid) = await shop()
    stored = await ingest_feedback(
        database_id,
        [
            item("f1", ann, "delivered"),
            item("f2", ann, "opened"),
            item("f3", ann, "clicked", link_category="promotion", url="https://shop.example/p"),
            item("f4", bob, "bounced"),
            item("f5", cid, "delivered", channel="sms"),
            item("f6", cid, "opened", channel="push"),
        ],
    )
    assert stored == 6
    rows = await events(database_id)
    assert [(r["contact_id"], r["key"], r["external_id"]) for r in rows] == [
        (ann, "email_delivered", "platform:f1"),
        (ann, "email_opened", "platform:f2"),
        (ann, "email_clicked", "platform:f3"),
        (bob, "email_bounced", "platform:f4"),
        (cid, "sms_delivered", "platform:f5"),
        (cid, "push_opened", "platform:f6"),
    ]
    assert props(rows[2]) == {
        "delivery_id": "dlv_1",
        "subject": "Winter sale",
        "link_category": "promotion",
        "url": "https://shop.example/p",
        "run_id": 77,
    }
    assert rows[0]["occurred_at"].isoformat() == AT


async def test_ingesting_the_same_feedback_again_stores_nothing_more(db):
    database_id, (ann, bob, _) = await shop()
    batch = [item("f1", ann, "delivered"), item("f2", bob, "delivered")]
    assert await ingest_feedback(database_id, batch) == 2
    assert await ingest_feedback(database_id, batch) == 0
    assert await ingest_feedback(database_id, [*batch, item("f3", bob, "opened")]) == 1
    # The same id twice in one call counts once.
    assert await ingest_feedback(database_id, [item("f4", ann, "opened")] * 2) == 1
    assert len(await events(database_id)) == 4


async def test_items_that_do_not_fit_the_database_are_skipped(db):
    database_id, (ann, _, _) = await shop()
    _, (stranger,) = await shop("Other", contacts=1)
    stored = await ingest_feedback(
        database_id,
        [
            item("ok", ann, "delivered"),
            item("other-db", stranger, "delivered"),  # a contact of another database
            item("gone", 10**12, "delivered"),  # no such contact
            item("no-type", ann, "bounced", channel="sms"),  # no sms_bounced in the catalog
            item("bad-kind", ann, "unsubscribed"),
            item("bad-channel", ann, "delivered", channel="fax"),
            item("bad-ref", "abc", "delivered"),
            item("naive-time", ann, "opened", occurred_at="2026-12-01T09:00:00"),
            item("bad-time", ann, "opened", occurred_at="yesterday"),
            item("", ann, "opened"),
            "not an object",
        ],
    )
    assert stored == 1
    assert [r["external_id"] for r in await events(database_id)] == ["platform:ok"]


async def test_feedback_ids_are_scoped_per_database(db):
    first, (ann, *_) = await shop("First")
    second, (bea, *_) = await shop("Second")
    assert await ingest_feedback(first, [item("same", ann, "opened")]) == 1
    assert await ingest_feedback(second, [item("same", bea, "opened")]) == 1


async def test_the_webhook_handler_verifies_then_routes_items_to_their_database(db):
    first, (ann, *_) = await shop("First")
    second, (bea, *_) = await shop("Second")
    body = json.dumps(
        {
            "items": [
                item("a", ann, "opened", reference=str(DeliveryReference(first, 5, 0))),
                item("b", bea, "opened", reference=str(DeliveryReference(second, 6, 0))),
                item("c", bea, "opened", reference="someone-else"),
            ]
        }
    ).encode()
    with pytest.raises(InvalidFeedback) as unsigned:
        await handle_feedback_webhook(body, sign_body(body, "wrong"), WEBHOOK_SECRET)
    assert unsigned.value.code == "bad_signature"
    assert await events(first) == []
    result = await handle_feedback_webhook(body, sign_body(body, WEBHOOK_SECRET), WEBHOOK_SECRET)
    assert (result.received, result.stored) == (3, 2)
    assert [r["contact_id"] for r in await events(first)] == [ann]
    assert [props(r)["run_id"] for r in await events(second)] == [6]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"items": 3}', b'{"other": []}'])
async def test_the_webhook_handler_refuses_a_malformed_body(body):
    with pytest.raises(InvalidFeedback) as caught:
        await handle_feedback_webhook(body, sign_body(body, WEBHOOK_SECRET), WEBHOOK_SECRET)
    assert caught.value.code == "bad_body"


# --- end to end: the sink posts to a webhook peer --------------------------------------------


def webhook_peer(secret: str, calls: list[dict[str, Any]]) -> Starlette:
    """contactplan's webhook as the app will wire it: verify, ingest, answer."""

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            result = await handle_feedback_webhook(body, request.headers.get("X-Signature"), secret)
        except InvalidFeedback as error:
            status = 401 if error.code == "bad_signature" else 400
            calls.append({"status": status})
            return JSONResponse({"error": error.code}, status)
        calls.append({"status": 200, "received": result.received, "stored": result.stored})
        return JSONResponse({"stored": result.stored})

    return Starlette(routes=[Route("/webhooks/delivery", webhook, methods=["POST"])])


async def started_delivery(sink: Sink, database_id: int, contact_ids: list[int]) -> str:
    async with sink.client() as client:
        delivery = await client.create_delivery(
            "email",
            {"template": "winter", "subject": "Winter sale"},
            reference=DeliveryReference(database_id, 77, 0),
        )
        recipients = [{"contact_ref": str(c), "address": f"{c}@example.com"} for c in contact_ids]
        await client.add_recipients(delivery.id, "b0", recipients)
        await client.start(delivery.id)
    return delivery.id


async def test_sink_feedback_reaches_the_webhook_and_becomes_events_once(db, sink: Sink):
    database_id, contact_ids = await shop(contacts=40)
    delivery_id = await started_delivery(sink, database_id, contact_ids)
    calls: list[dict[str, Any]] = []
    async with served_in_this_loop(webhook_peer(WEBHOOK_SECRET, calls)) as peer:
        emit = {
            "delivery_id": delivery_id,
            "rates": {"bounced": 0.1, "opened": 0.5, "clicked": 0.5},
            "seed": 11,
            "webhook_url": f"{peer}/webhooks/delivery",
            "batch_size": 7,
        }
        first = await sink.control("POST", "/_sink/emit-feedback", emit)
        again = await sink.control("POST", "/_sink/emit-feedback", emit)
    async with sink.client() as client:
        platform_view = (await client.feedback(delivery_id, limit=5000)).items
    assert first["failures"] == again["failures"] == []
    assert first["posted"] == again["posted"] == first["events"] == len(platform_view)
    assert first["batches"] == -(-first["events"] // 7)
    assert first["new"] == first["events"] and again["new"] == 0
    assert sum(c["stored"] for c in calls) == first["events"]  # the second emission added none
    rows = await events(database_id)
    expected = Counter(f"email_{i['type']}" for i in platform_view)
    assert Counter(r["key"] for r in rows) == expected
    assert set(expected) == {"email_delivered", "email_bounced", "email_opened", "email_clicked"}
    for row in rows:
        assert row["contact_id"] in contact_ids
        assert props(row)["delivery_id"] == delivery_id and props(row)["run_id"] == 77
        if row["key"] == "email_clicked":
            assert props(row)["link_category"] in {"product", "promotion", "social", "unsubscribe"}
    # Per contact the funnel holds: bounced xor delivered; opened only if delivered.
    per_contact: dict[int, set[str]] = {}
    for row in rows:
        per_contact.setdefault(row["contact_id"], set()).add(row["key"])
    for keys in per_contact.values():
        assert ("email_bounced" in keys) != ("email_delivered" in keys)
        assert "email_opened" not in keys or "email_delivered" in keys
        assert "email_clicked" not in keys or "email_opened" in keys


async def test_feedback_signed_with_another_secret_is_refused_and_stores_nothing(db, sink: Sink):
    database_id, contact_ids = await shop()
    delivery_id = await started_delivery(sink, database_id, contact_ids)
    calls: list[dict[str, Any]] = []
    async with served_in_this_loop(webhook_peer("a-different-secret", calls)) as peer:
        result = await sink.control(
            "POST",
            "/_sink/emit-feedback",
            {"delivery_id": delivery_id, "webhook_url": f"{peer}/webhooks/delivery"},
        )
    assert result["posted"] == 0
    assert result["failures"] == [{"batch": 0, "status": 401}]
    assert calls == [{"status": 401}]
    assert await events(database_id) == []
