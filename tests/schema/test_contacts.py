"""Contacts and events over HTTP: personal data by profile, events paging and filters,
runs a contact was in, deletion, and other databases' rows out of reach by every path."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from models import (
    AuditEntry,
    Contact,
    Event,
    EventType,
    Plan,
    PlanRun,
    Profile,
    Recipient,
    RecipientStatus,
    RunTrigger,
    Segment,
)
from tests.schema.statement_counter import count_statements
from tests.schema.test_contacts_fixtures import codes, gid, make_contact, make_shop

PERSONAL = ["email", "phone", "pushToken", "firstName", "lastName", "birthDate"]

CONTACT = """query($id: ID!) { contact(id: $id) {
  id externalId email phone pushToken firstName lastName birthDate city country consentEmail
  attributes personalAttributes databaseId database { name } } }"""

EVENTS = """query($id: ID!, $first: Int, $after: String, $types: [String!], $since: DateTime,
  $until: DateTime) { contact(id: $id) {
  events(first: $first, after: $after, types: $types, since: $since, until: $until) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id eventId occurredAt value properties eventType { key }
                   contact { externalId } } } } } }"""

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def shop(gql, accounts):
    shop = await make_shop(accounts)
    shop.ada = await make_contact(
        shop.database,
        "ada",
        email="ada@example.com",
        phone="+39 02 1234",
        push_token="tok-1",
        first_name="Ada",
        last_name="Lovelace",
        birth_date=date(1990, 12, 10),
        city="Milano",
        country="IT",
        consent_email=True,
        attributes={"points": 12, "tax_code": "LVLADA90", "vip": True},
    )
    shop.stranger = await make_contact(
        shop.other, "ada", email="other@example.com", attributes={"points": 1}
    )
    purchase = await EventType.get(database_id=shop.database.id, key="purchase")
    visit = await EventType.get(database_id=shop.database.id, key="page_visited")
    for i in range(5):
        await Event.create(
            database=shop.database,
            contact=shop.ada,
            event_type=purchase if i % 2 == 0 else visit,
            external_id=f"e{i}",
            occurred_at=T0 + timedelta(days=i),
            value=Decimal(i) + Decimal("0.25") if i % 2 == 0 else None,
            properties={"order_id": f"o{i}"} if i % 2 == 0 else {"url": f"/p{i}"},
        )
    other_type = await EventType.get(database_id=shop.other.id, key="purchase")
    shop.foreign_event = await Event.create(
        database=shop.other,
        contact=shop.stranger,
        event_type=other_type,
        occurred_at=T0,
        properties={},
    )
    return shop


async def test_user_reads_a_contact_without_personal_data(gql, accounts, shop) -> None:
    result = await gql.execute(
        CONTACT, {"id": gid("Contact", shop.ada.id)}, token=accounts.token["USER"]
    )
    contact = result["data"]["contact"]
    for name in [*PERSONAL, "personalAttributes"]:
        assert contact[name] is None, name
    assert contact["externalId"] == "ada" and contact["city"] == "Milano"
    assert contact["consentEmail"] is True and contact["country"] == "IT"
    assert contact["attributes"] == {"points": 12, "vip": True}
    assert contact["databaseId"] == shop.gid and contact["database"] == {"name": "Shop"}
    forbidden = {e["path"][-1] for e in result["errors"]}
    assert forbidden == {*PERSONAL, "personalAttributes"}
    assert set(codes(result)) == {"FORBIDDEN"}


async def test_poweruser_reads_personal_data(gql, accounts, shop) -> None:
    result = await gql.execute(
        CONTACT, {"id": gid("Contact", shop.ada.id)}, token=accounts.token["POWERUSER"]
    )
    assert "errors" not in result, result
    contact = result["data"]["contact"]
    assert contact["email"] == "ada@example.com" and contact["phone"] == "+39 02 1234"
    assert contact["pushToken"] == "tok-1" and contact["birthDate"] == "1990-12-10"
    assert (contact["firstName"], contact["lastName"]) == ("Ada", "Lovelace")
    assert contact["personalAttributes"] == {"tax_code": "LVLADA90"}


async def test_contact_by_external_id_stays_in_its_database(gql, accounts, shop) -> None:
    query = """query($db: ID!, $x: String!) { contactByExternalId(databaseId: $db,
      externalId: $x) { id attributes } }"""
    token = accounts.token["USER"]
    mine = await gql.execute(query, {"db": shop.gid, "x": "ada"}, token=token)
    assert mine["data"]["contactByExternalId"]["id"] == gid("Contact", shop.ada.id)
    theirs = await gql.execute(query, {"db": shop.other_gid, "x": "ada"}, token=token)
    assert codes(theirs) == ["NOT_FOUND"] and theirs["data"]["contactByExternalId"] is None
    missing = await gql.execute(query, {"db": shop.gid, "x": "nobody"}, token=token)
    assert codes(missing) == ["NOT_FOUND"]


async def test_another_databases_rows_are_not_found_by_any_path(gql, accounts, shop) -> None:
    token = accounts.token["POWERUSER"]
    contact = await gql.execute(CONTACT, {"id": gid("Contact", shop.stranger.id)}, token=token)
    assert codes(contact) == ["NOT_FOUND"]
    for node_id in (gid("Contact", shop.stranger.id), gid("Event", shop.foreign_event.id)):
        node = await gql.execute(
            "query($id: ID!) { node(id: $id) { id } }", {"id": node_id}, token=token
        )
        assert codes(node) == ["NOT_FOUND"], node_id
    # a contact id passed as an id of another type is not found either
    wrong = await gql.execute(CONTACT, {"id": gid("Event", shop.ada.id)}, token=token)
    assert codes(wrong) == ["NOT_FOUND"]
    await Profile.create(name="cleaner", permissions=["contact.read", "contact.delete"])
    cleaner = await accounts.make_user("cleaner", "cleaner", [shop.database])
    delete = await gql.execute(
        "mutation($id: ID!) { deleteContact(id: $id) { deletedContactId } }",
        {"id": gid("Contact", shop.stranger.id)},
        token=accounts.token_for(cleaner),
    )
    assert codes(delete) == ["NOT_FOUND"]
    assert await Contact.filter(id=shop.stranger.id).exists()


async def test_nodes_of_own_database_resolve(gql, accounts, shop) -> None:
    event = await Event.get(external_id="e0")
    result = await gql.execute(
        """query($c: ID!, $e: ID!) { c: node(id: $c) { ... on Contact { externalId } }
           e: node(id: $e) { ... on Event { eventId contact { externalId } } } }""",
        {"c": gid("Contact", shop.ada.id), "e": gid("Event", event.id)},
        token=accounts.token["GUEST"],
    )
    assert result["data"] == {
        "c": {"externalId": "ada"},
        "e": {"eventId": "e0", "contact": {"externalId": "ada"}},
    }


async def test_events_newest_first_page_by_page(gql, accounts, shop) -> None:
    token = accounts.token["GUEST"]
    seen: list[str] = []
    after = None
    while True:
        result = await gql.execute(
            EVENTS, {"id": gid("Contact", shop.ada.id), "first": 2, "after": after}, token=token
        )
        events = result["data"]["contact"]["events"]
        assert events["totalCount"] == 5
        seen += [e["node"]["eventId"] for e in events["edges"]]
        if not events["pageInfo"]["hasNextPage"]:
            break
        after = events["pageInfo"]["endCursor"]
    assert seen == ["e4", "e3", "e2", "e1", "e0"]


async def test_events_filtered_by_type_and_time(gql, accounts, shop) -> None:
    result = await gql.execute(
        EVENTS,
        {
            "id": gid("Contact", shop.ada.id),
            "types": ["purchase"],
            "since": (T0 + timedelta(days=1)).isoformat(),
            "until": (T0 + timedelta(days=4)).isoformat(),
        },
        token=accounts.token["USER"],
    )
    edges = result["data"]["contact"]["events"]["edges"]
    assert [e["node"]["eventId"] for e in edges] == ["e2"]
    node = edges[0]["node"]
    assert node["value"] == "2.25" and node["properties"] == {"order_id": "o2"}
    assert node["eventType"] == {"key": "purchase"} and node["contact"] == {"externalId": "ada"}
    assert result["data"]["contact"]["events"]["totalCount"] == 1


async def test_event_list_loads_types_and_contacts_in_batches(gql, accounts, shop) -> None:
    variables = {"id": gid("Contact", shop.ada.id), "first": 1}
    with count_statements() as one:
        await gql.execute(EVENTS, variables, token=accounts.token["USER"])
    with count_statements() as five:
        await gql.execute(EVENTS, {**variables, "first": 5}, token=accounts.token["USER"])
    assert one.count > 0 and five.count == one.count, five.statements


async def test_contact_runs_lists_the_runs_whose_lists_had_it(gql, accounts, shop) -> None:
    author = accounts.users["ADMIN"]
    segment = await Segment.create(database=shop.database, name="s", author=author, definition={})
    plan = await Plan.create(
        database=shop.database, segment=segment, name="Weekly", author=author, schedule={}
    )
    runs = [
        await PlanRun.create(
            plan=plan,
            trigger=RunTrigger.SCHEDULE,
            scheduled_for=T0 + timedelta(days=i),
            as_of=T0 + timedelta(days=i),
        )
        for i in range(3)
    ]
    await Recipient.create(run=runs[0], contact_id=shop.ada.id, status=RecipientStatus.SENT)
    await Recipient.create(run=runs[2], contact_id=shop.ada.id, status=RecipientStatus.EXCLUDED)
    await Recipient.create(run=runs[1], contact_id=shop.stranger.id, status=RecipientStatus.SENT)
    query = """query($id: ID!, $first: Int) { contact(id: $id) { runs(first: $first) {
      id scheduledFor } } }"""
    result = await gql.execute(
        query, {"id": gid("Contact", shop.ada.id)}, token=accounts.token["GUEST"]
    )
    assert "errors" not in result, result
    assert [r["id"] for r in result["data"]["contact"]["runs"]] == [
        gid("PlanRun", runs[2].id),
        gid("PlanRun", runs[0].id),
    ]
    limited = await gql.execute(
        query, {"id": gid("Contact", shop.ada.id), "first": 1}, token=accounts.token["GUEST"]
    )
    assert [r["id"] for r in limited["data"]["contact"]["runs"]] == [gid("PlanRun", runs[2].id)]


async def test_admin_deletes_a_contact_with_its_events(gql, accounts, shop) -> None:
    mutation = """mutation($id: ID!) { deleteContact(id: $id) { deletedContactId
      userErrors { code } } }"""
    variables = {"id": gid("Contact", shop.ada.id)}
    refused = await gql.execute(mutation, variables, token=accounts.token["POWERUSER"])
    assert codes(refused) == ["FORBIDDEN"]
    result = await gql.execute(mutation, variables, token=accounts.token["ADMIN"])
    assert result["data"]["deleteContact"] == {
        "deletedContactId": variables["id"],
        "userErrors": [],
    }
    assert not await Contact.filter(id=shop.ada.id).exists()
    assert await Event.filter(contact_id=shop.ada.id).count() == 0
    assert await Event.filter(id=shop.foreign_event.id).exists()
    entry = await AuditEntry.get(action="delete", object_type="contact")
    assert entry.object_id == str(shop.ada.id) and entry.before == {
        "external_id": "ada",
        "events": 5,
    }
    again = await gql.execute(mutation, variables, token=accounts.token["ADMIN"])
    assert codes(again) == ["NOT_FOUND"]


async def test_guest_reads_contacts_but_cannot_change_them(gql, accounts, shop) -> None:
    token = accounts.token["GUEST"]
    read = await gql.execute(CONTACT, {"id": gid("Contact", shop.ada.id)}, token=token)
    assert read["data"]["contact"]["externalId"] == "ada"
    delete = await gql.execute(
        "mutation($id: ID!) { deleteContact(id: $id) { deletedContactId } }",
        {"id": gid("Contact", shop.ada.id)},
        token=token,
    )
    assert codes(delete) == ["FORBIDDEN"]


async def test_unauthenticated_caller_gets_nothing(gql, shop) -> None:
    result = await gql.execute(CONTACT, {"id": gid("Contact", shop.ada.id)})
    assert codes(result) == ["UNAUTHENTICATED"]


async def test_total_count_is_counted_when_asked_for_in_a_fragment(gql, accounts, shop) -> None:
    query = """query($id: ID!) { contact(id: $id) { events(first: 1) { ...Counted
      edges { node { eventId } } } } }
      fragment Counted on EventConnection { totalCount }"""
    result = await gql.execute(
        query, {"id": gid("Contact", shop.ada.id)}, token=accounts.token["USER"]
    )
    assert result["data"]["contact"]["events"] == {
        "totalCount": 5,
        "edges": [{"node": {"eventId": "e4"}}],
    }


async def test_nul_and_huge_strings_in_arguments_are_refused_not_crashing(
    gql, accounts, shop
) -> None:
    token = accounts.token["USER"]
    for text, code in (("a\\u0000b", "BAD_USER_INPUT"), ("x" * 10_000, "NOT_FOUND")):
        result = await gql.execute(
            f'query($db: ID!) {{ contactByExternalId(databaseId: $db, externalId: "{text}")'
            " { id } }",
            {"db": shop.gid},
            token=token,
        )
        assert codes(result) == [code], result["errors"][0]["message"][:300]
        assert len(result["errors"][0]["message"]) < 300
    events = await gql.execute(
        'query($id: ID!) { contact(id: $id) { events(types: ["a\\u0000"]) { totalCount } } }',
        {"id": gid("Contact", shop.ada.id)},
        token=token,
    )
    assert codes(events) == ["BAD_USER_INPUT"]
