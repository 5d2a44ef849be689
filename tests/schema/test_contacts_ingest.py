"""A partner with an API key: batch upsert of contacts and ingest of events — idempotent,
all or nothing, per-item errors, other databases out of reach, injection strings inert."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from models import AuditEntry, Contact, Event
from resolvers.ingest import MAX_BATCH
from tests.schema.statement_counter import count_statements
from tests.schema.test_contacts_fixtures import codes, gid, make_api_key, make_shop

UPSERT = """mutation($db: ID!, $contacts: [ContactInput!]!) {
  upsertContacts(databaseId: $db, contacts: $contacts) {
    contacts { id externalId email firstName city consentEmail attributes personalAttributes }
    createdCount updatedCount unchangedCount
    userErrors { path message code }
  } }"""

INGEST = """mutation($db: ID!, $events: [EventInput!]!) {
  ingestEvents(databaseId: $db, events: $events) {
    ingestedCount duplicateCount userErrors { path message code } } }"""

CONTACTS = [
    {
        "externalId": "c-1",
        "email": "ada@example.com",
        "firstName": "Ada",
        "city": "Milano",
        "country": "it",
        "consentEmail": True,
        "attributes": {
            "points": 120,
            "vip": True,
            "interests": ["shoes", "bags"],
            "first_purchase_date": "2024-02-29",
            "last_seen": "2026-01-05T10:00:00+01:00",
        },
    },
    {"externalId": "c-2", "email": "bob@example.com", "birthDate": "1990-02-03"},
    {"externalId": "c-3", "phone": "+39 333 1234567", "attributes": {"tax_code": "RSSMRA"}},
]


def events(n: int = 3) -> list[dict]:
    return [
        {
            "eventId": f"order-{i}",
            "contactExternalId": f"c-{1 + i % 3}",
            "type": "purchase",
            "occurredAt": f"2026-03-0{1 + i}T10:00:00+01:00",
            "value": f"{10 * (i + 1)}.50",
            "properties": {"order_id": f"o{i}", "items": i + 1},
        }
        for i in range(n)
    ]


@pytest.fixture
async def partner(gql, accounts):
    shop = await make_shop(accounts)
    return shop, await make_api_key(accounts, "POWERUSER", [shop.database])


async def upsert(gql, token, db, contacts) -> dict:
    result = await gql.execute(UPSERT, {"db": db, "contacts": contacts}, token=token)
    assert "errors" not in result, result
    return result["data"]["upsertContacts"]


async def ingest(gql, token, db, items) -> dict:
    result = await gql.execute(INGEST, {"db": db, "events": items}, token=token)
    assert "errors" not in result, result
    return result["data"]["ingestEvents"]


async def test_partner_upserts_contacts_and_a_resent_batch_changes_nothing(gql, partner) -> None:
    shop, key = partner
    first = await upsert(gql, key, shop.gid, CONTACTS)
    assert first["userErrors"] == []
    assert (first["createdCount"], first["updatedCount"], first["unchangedCount"]) == (3, 0, 0)
    assert [c["externalId"] for c in first["contacts"]] == ["c-1", "c-2", "c-3"]
    ada = first["contacts"][0]
    assert ada["email"] == "ada@example.com" and ada["consentEmail"] is True
    assert ada["attributes"] == CONTACTS[0]["attributes"]
    again = await upsert(gql, key, shop.gid, CONTACTS)
    assert (again["createdCount"], again["updatedCount"], again["unchangedCount"]) == (0, 0, 3)
    assert [c["id"] for c in again["contacts"]] == [c["id"] for c in first["contacts"]]
    assert await Contact.filter(database_id=shop.database.id).count() == 3
    stored = await Contact.get(database_id=shop.database.id, external_id="c-1")
    assert stored.country == "IT" and stored.consent_sms is False
    audit = await AuditEntry.filter(action="upsert", object_type="contacts")
    assert [a.after for a in audit] == [{"created": 3, "updated": 0}]


async def test_omitted_fields_are_kept_and_null_clears(gql, partner) -> None:
    shop, key = partner
    await upsert(gql, key, shop.gid, CONTACTS)
    changed = await upsert(
        gql,
        key,
        shop.gid,
        [{"externalId": "c-1", "city": None, "attributes": {"points": 7, "vip": None}}],
    )
    assert (changed["createdCount"], changed["updatedCount"]) == (0, 1)
    stored = await Contact.get(database_id=shop.database.id, external_id="c-1")
    assert stored.email == "ada@example.com" and stored.first_name == "Ada"
    assert stored.city is None and stored.consent_email is True
    expected = {**CONTACTS[0]["attributes"], "points": 7}
    del expected["vip"]
    assert stored.attributes == expected


async def test_events_ingested_twice_are_recorded_once(gql, partner) -> None:
    shop, key = partner
    await upsert(gql, key, shop.gid, CONTACTS)
    first = await ingest(gql, key, shop.gid, events(3))
    assert first == {"ingestedCount": 3, "duplicateCount": 0, "userErrors": []}
    again = await ingest(gql, key, shop.gid, events(4))
    assert again == {"ingestedCount": 1, "duplicateCount": 3, "userErrors": []}
    rows = await Event.filter(database_id=shop.database.id).order_by("external_id")
    assert [r.external_id for r in rows] == ["order-0", "order-1", "order-2", "order-3"]
    assert rows[0].value == Decimal("10.50") and rows[0].properties == {
        "order_id": "o0",
        "items": 1,
    }
    contact = await Contact.get(id=rows[0].contact_id)
    assert contact.external_id == "c-1"
    audit = await AuditEntry.filter(action="ingest", object_type="events").order_by("id")
    assert [a.after for a in audit] == [
        {"ingested": 3, "duplicates": 0},
        {"ingested": 1, "duplicates": 3},
    ]


async def test_one_invalid_contact_writes_nothing_and_every_mistake_is_reported(
    gql, partner
) -> None:
    shop, key = partner
    batch = [
        {"externalId": "ok-1", "email": "fine@example.com"},
        {
            "externalId": "bad-1",
            "email": "not-an-address",
            "gender": "Q",
            "attributes": {"points": "many", "unknown_key": 1, "loyalty_tier": "platinum"},
        },
        {"externalId": "ok-1", "consentSms": None},
        {
            "externalId": "",
            "country": "ITA",
            "attributes": {"last_seen": "2026-01-01", "first_purchase_date": "2026-02-30"},
        },
    ]
    payload = await upsert(gql, key, shop.gid, batch)
    errors = {(".".join(e["path"]), e["code"]) for e in payload["userErrors"]}
    assert errors == {
        ("contacts.1.email", "INVALID"),
        ("contacts.1.gender", "INVALID"),
        ("contacts.1.attributes.points", "INVALID"),
        ("contacts.1.attributes.unknown_key", "UNKNOWN_FIELD"),
        ("contacts.1.attributes.loyalty_tier", "INVALID"),
        ("contacts.2.consentSms", "REQUIRED"),
        ("contacts.2.externalId", "DUPLICATE"),
        ("contacts.3.externalId", "REQUIRED"),
        ("contacts.3.country", "TOO_LONG"),
        ("contacts.3.attributes.last_seen", "INVALID"),
        ("contacts.3.attributes.first_purchase_date", "INVALID"),
    }
    assert payload["contacts"] == [] and payload["createdCount"] == 0
    assert await Contact.all().count() == 0
    assert not await AuditEntry.filter(object_type="contacts").exists()


async def test_one_invalid_event_writes_nothing(gql, partner) -> None:
    shop, key = partner
    await upsert(gql, key, shop.gid, CONTACTS)
    batch = [
        *events(2),
        {
            "eventId": "x-1",
            "contactExternalId": "nobody",
            "type": "purchase",
            "occurredAt": "2026-03-01T10:00:00",
            "properties": {"items": "two", "coupon": "X"},
        },
        {
            "eventId": "order-0",
            "contactExternalId": "c-1",
            "type": "teleported",
            "occurredAt": "2026-03-01T10:00:00Z",
            "value": "1e13",
        },
    ]
    payload = await ingest(gql, key, shop.gid, batch)
    errors = {(".".join(e["path"]), e["code"]) for e in payload["userErrors"]}
    assert errors == {
        ("events.2.contactExternalId", "NOT_FOUND"),
        ("events.2.occurredAt", "INVALID"),
        ("events.2.properties.items", "INVALID"),
        ("events.2.properties.coupon", "UNKNOWN_PROPERTY"),
        ("events.3.eventId", "DUPLICATE"),
        ("events.3.type", "UNKNOWN_EVENT_TYPE"),
        ("events.3.value", "INVALID"),
    }
    assert payload["ingestedCount"] == 0
    assert await Event.all().count() == 0


async def test_a_batch_over_the_limit_is_refused_whole(gql, partner) -> None:
    shop, key = partner
    batch = [{"externalId": f"c{i}"} for i in range(MAX_BATCH + 1)]
    payload = await upsert(gql, key, shop.gid, batch)
    assert [(e["path"], e["code"]) for e in payload["userErrors"]] == [
        (["contacts"], "BATCH_TOO_LARGE")
    ]
    assert str(MAX_BATCH) in payload["userErrors"][0]["message"]
    assert await Contact.all().count() == 0
    full = await upsert(gql, key, shop.gid, batch[:MAX_BATCH])
    assert full["createdCount"] == MAX_BATCH


async def test_a_profile_without_contact_write_is_forbidden(gql, accounts, partner) -> None:
    shop, _ = partner
    for profile in ("USER", "GUEST"):
        result = await gql.execute(
            UPSERT, {"db": shop.gid, "contacts": CONTACTS}, token=accounts.token[profile]
        )
        assert codes(result) == ["FORBIDDEN"]
        result = await gql.execute(
            INGEST, {"db": shop.gid, "events": events(1)}, token=accounts.token[profile]
        )
        assert codes(result) == ["FORBIDDEN"]
    assert await Contact.all().count() == 0


async def test_another_database_is_not_found_for_the_key(gql, partner) -> None:
    shop, key = partner
    for db in (shop.other_gid, gid("Database", 999999), gid("Contact", shop.database.id)):
        result = await gql.execute(UPSERT, {"db": db, "contacts": CONTACTS}, token=key)
        assert codes(result) == ["NOT_FOUND"], (db, result)
        result = await gql.execute(INGEST, {"db": db, "events": events(1)}, token=key)
        assert codes(result) == ["NOT_FOUND"], (db, result)
    assert await Contact.all().count() == 0


async def test_events_cannot_reach_a_contact_of_another_database(gql, accounts, partner) -> None:
    shop, key = partner
    await Contact.create(database=shop.other, external_id="c-1")
    payload = await ingest(gql, key, shop.gid, events(1))
    assert [(e["path"], e["code"]) for e in payload["userErrors"]] == [
        (["events", "0", "contactExternalId"], "NOT_FOUND")
    ]
    assert await Event.all().count() == 0


INJECTIONS = [
    "Robert'); DROP TABLE contact;--",
    "' OR '1'='1",
    "$1::text); DELETE FROM event; --",
    '{"$gt": ""}',
    "<script>alert(1)</script>",
    "\\x00' || pg_sleep(1) --",
]


async def test_injection_strings_are_stored_verbatim_and_harmless(gql, partner) -> None:
    shop, key = partner
    batch = [
        {
            "externalId": text[:128],
            "firstName": text[:100],
            "city": text[:100],
            "attributes": {"nickname": text, "interests": [text]},
        }
        for text in INJECTIONS
    ]
    payload = await upsert(gql, key, shop.gid, batch)
    assert payload["userErrors"] == [] and payload["createdCount"] == len(INJECTIONS)
    for text, contact in zip(INJECTIONS, payload["contacts"], strict=True):
        assert contact["externalId"] == text and contact["firstName"] == text
        assert contact["attributes"] == {"nickname": text, "interests": [text]}
    ingested = await ingest(
        gql,
        key,
        shop.gid,
        [
            {
                "eventId": text,
                "contactExternalId": text,
                "type": "page_visited",
                "occurredAt": "2026-01-01T00:00:00Z",
                "properties": {"url": text},
            }
            for text in INJECTIONS
        ],
    )
    assert ingested["ingestedCount"] == len(INJECTIONS)
    assert await Contact.all().count() == len(INJECTIONS)
    assert await Event.all().count() == len(INJECTIONS)
    found = await gql.execute(
        "query($db: ID!, $x: String!) { contactByExternalId(databaseId: $db, externalId: $x)"
        " { externalId } }",
        {"db": shop.gid, "x": INJECTIONS[1]},
        token=key,
    )
    assert found["data"]["contactByExternalId"] == {"externalId": INJECTIONS[1]}


async def test_nul_characters_are_refused_and_nothing_is_written(gql, partner) -> None:
    shop, key = partner
    result = await gql.execute(
        UPSERT,
        {"db": shop.gid, "contacts": [{"externalId": "a\x00b", "attributes": {"nickname": "x"}}]},
        token=key,
    )
    assert codes(result) == ["BAD_USER_INPUT"]
    assert await Contact.all().count() == 0


async def test_a_batch_is_written_with_as_many_statements_as_a_single_item(gql, partner) -> None:
    shop, key = partner
    await gql.execute("{ __typename }", token=key)  # the key's first use records last_used_at
    counts = {}
    for size in (1, 200):
        contacts = [{"externalId": f"n{size}-{i}", "city": "Roma"} for i in range(size)]
        with count_statements() as contacts_counter:
            await upsert(gql, key, shop.gid, contacts)
        items = [
            {
                "eventId": f"n{size}-{i}",
                "contactExternalId": f"n{size}-{i}",
                "type": "page_visited",
                "occurredAt": "2026-01-01T00:00:00Z",
            }
            for i in range(size)
        ]
        with count_statements() as events_counter:
            await ingest(gql, key, shop.gid, items)
        counts[size] = (contacts_counter.count, events_counter.count)
    assert counts[1] == counts[200] and counts[1][0] > 0, counts
    assert await Event.all().count() == 201


async def test_partner_counts_what_it_loaded(gql, partner) -> None:
    shop, key = partner
    await upsert(gql, key, shop.gid, CONTACTS)
    await ingest(gql, key, shop.gid, events(3))  # 10.50 (c-1), 20.50 (c-2), 30.50 (c-3)
    definition = {
        "root": {
            "or": [
                {"contact": {"conditions": [{"field": "points", "op": "gte", "value": 100}]}},
                {
                    "event": {
                        "type": "purchase",
                        "aggregate": {"fn": "sum", "of": "$value", "op": "gt", "value": 25},
                    }
                },
            ]
        }
    }
    result = await gql.execute(
        """query($db: ID!, $d: JSON!) { countDefinition(databaseId: $db, definitionJson: $d)
          { count userErrors { path code } } }""",
        {"db": shop.gid, "d": definition},
        token=key,
    )
    assert result["data"]["countDefinition"] == {"count": 2, "userErrors": []}  # c-1, c-3


async def test_concurrent_partial_upserts_of_the_same_contacts_lose_nothing(gql, partner) -> None:
    shop, key = partner
    ids = [f"k{i}" for i in range(300)]
    for _ in range(3):
        await asyncio.gather(
            upsert(gql, key, shop.gid, [{"externalId": x, "email": f"{x}@ex.it"} for x in ids]),
            upsert(gql, key, shop.gid, [{"externalId": x, "city": "Roma"} for x in ids]),
            upsert(
                gql,
                key,
                shop.gid,
                [{"externalId": x, "attributes": {"points": 1}} for x in reversed(ids)],
            ),
        )
        rows = await Contact.filter(database_id=shop.database.id).order_by("external_id")
        assert len(rows) == len(ids)
        assert all(r.email == f"{r.external_id}@ex.it" for r in rows)
        assert all(r.city == "Roma" and r.attributes == {"points": 1} for r in rows)
        await Contact.all().delete()
