"""The catalog over HTTP: fields with their input types and operators, event categories and
types, values for pickers and drill-downs, field settings (admin, audited), and other
databases' catalogs out of reach."""

from __future__ import annotations

import pytest

from models import AuditEntry, Event, EventType, Field
from tests.schema.test_contacts_fixtures import codes, gid, make_contact, make_shop

FIELDS = """query($db: ID!, $visible: Boolean! = false) { fields(databaseId: $db,
  visibleOnly: $visible) { id key label dataType storage kind personalData visible
  defaultInRules aggregable enumValues parentKey inputType inputTypeOverride operators
  databaseId } }"""

VALUES = """query($f: ID!, $search: String, $parent: String, $first: Int) {
  fieldValues(fieldId: $f, search: $search, parentValue: $parent, first: $first)
  { value count } }"""

UPDATE = """mutation($input: UpdateFieldInput!) { updateField(input: $input) {
  field { id label visible defaultInRules aggregable inputType inputTypeOverride }
  userErrors { path code } } }"""


@pytest.fixture
async def shop(gql, accounts):
    shop = await make_shop(accounts)
    places = [("IT", "Lombardia", "Milano")] * 3 + [
        ("IT", "Lazio", "Roma"),
        ("FR", "Ile-de-France", "Paris"),
    ]
    for i, (country, region, city) in enumerate(places):
        await make_contact(
            shop.database,
            f"c{i}",
            country=country,
            region=region,
            city=city,
            email=f"p{i}@example.com",
        )
    await make_contact(shop.other, "x", country="DE", email="secret@example.com")
    return shop


async def field_id(shop, key: str, other: bool = False) -> str:
    database = shop.other if other else shop.database
    row = await Field.get(database_id=database.id, key=key)
    return gid("Field", row.id)


async def test_fields_describe_the_catalog(gql, accounts, shop) -> None:
    result = await gql.execute(FIELDS, {"db": shop.gid}, token=accounts.token["GUEST"])
    assert "errors" not in result, result
    fields = {f["key"]: f for f in result["data"]["fields"]}
    assert list(fields)[:3] == ["external_id", "email", "phone"]
    email = fields["email"]
    assert (email["dataType"], email["storage"], email["personalData"]) == (
        "STRING",
        "COLUMN",
        True,
    )
    assert "starts_with" in email["operators"] and email["databaseId"] == shop.gid
    assert fields["gender"]["enumValues"] == ["F", "M", "X"]
    assert fields["gender"]["inputType"] == "CHECKBOX"
    assert fields["gender"]["defaultInRules"] is True
    assert fields["country"]["inputType"] == "DRILL_DOWN"  # region drills down from it
    assert fields["city"]["parentKey"] == "region" and fields["city"]["inputType"] == "DRILL_DOWN"
    assert fields["birth_date"]["inputType"] == "CALENDAR"
    assert fields["points"]["inputType"] == "NUMBER" and fields["points"]["storage"] == "ATTRIBUTE"
    assert fields["consent_email"]["inputType"] == "CHECKBOX"
    assert fields["tax_code"]["personalData"] is True
    assert fields["email"]["inputTypeOverride"] is None
    assert "gt" in fields["points"]["operators"] and "gt" not in fields["vip"]["operators"]
    visible = await gql.execute(
        FIELDS, {"db": shop.gid, "visible": True}, token=accounts.token["GUEST"]
    )
    assert "push_token" not in {f["key"] for f in visible["data"]["fields"]}


async def test_event_categories_and_types_with_properties(gql, accounts, shop) -> None:
    result = await gql.execute(
        """query($db: ID!) { eventCategories(databaseId: $db) { category label
          eventTypes { id key label valueLabel properties { key label dataType operators } } }
          purchases: eventTypes(databaseId: $db, category: PURCHASE) { key } }""",
        {"db": shop.gid},
        token=accounts.token["GUEST"],
    )
    assert "errors" not in result, result
    groups = result["data"]["eventCategories"]
    assert [g["category"] for g in groups] == ["MESSAGE", "PURCHASE", "ECOMMERCE", "WEB"]
    purchase = next(t for t in groups[1]["eventTypes"] if t["key"] == "purchase")
    assert purchase["valueLabel"] == "Order amount"
    items = next(p for p in purchase["properties"] if p["key"] == "items")
    assert items["dataType"] == "INTEGER" and "gte" in items["operators"]
    assert {t["key"] for t in result["data"]["purchases"]} == {"purchase", "purchase_line"}


async def test_field_values_and_drill_down(gql, accounts, shop) -> None:
    token = accounts.token["USER"]
    countries = await gql.execute(VALUES, {"f": await field_id(shop, "country")}, token=token)
    assert countries["data"]["fieldValues"] == [
        {"value": "IT", "count": 4},
        {"value": "FR", "count": 1},
    ]
    regions = await gql.execute(
        VALUES, {"f": await field_id(shop, "region"), "parent": "IT"}, token=token
    )
    assert regions["data"]["fieldValues"] == [
        {"value": "Lombardia", "count": 3},
        {"value": "Lazio", "count": 1},
    ]
    search = await gql.execute(
        VALUES, {"f": await field_id(shop, "city"), "search": "MIL"}, token=token
    )
    assert search["data"]["fieldValues"] == [{"value": "Milano", "count": 3}]
    first = await gql.execute(
        VALUES, {"f": await field_id(shop, "country"), "first": 1}, token=token
    )
    assert first["data"]["fieldValues"] == [{"value": "IT", "count": 4}]
    injected = await gql.execute(
        VALUES, {"f": await field_id(shop, "city"), "search": "%' OR '1'='1"}, token=token
    )
    assert injected["data"]["fieldValues"] == []
    no_parent = await gql.execute(
        VALUES, {"f": await field_id(shop, "country"), "parent": "IT"}, token=token
    )
    assert codes(no_parent) == ["BAD_USER_INPUT"]
    too_many = await gql.execute(
        VALUES, {"f": await field_id(shop, "country"), "first": 5000}, token=token
    )
    assert codes(too_many) == ["BAD_USER_INPUT"]


async def test_values_of_personal_data_need_the_permission(gql, accounts, shop) -> None:
    email = await field_id(shop, "email")
    refused = await gql.execute(VALUES, {"f": email}, token=accounts.token["USER"])
    assert codes(refused) == ["FORBIDDEN"] and refused["data"]["fieldValues"] is None
    allowed = await gql.execute(VALUES, {"f": email}, token=accounts.token["POWERUSER"])
    assert len(allowed["data"]["fieldValues"]) == 5
    assert "secret@example.com" not in str(allowed)


async def test_event_property_values(gql, accounts, shop) -> None:
    contact = await make_contact(shop.database, "buyer")
    purchase = await EventType.get(database_id=shop.database.id, key="purchase")
    for store in ["Milano", "Milano", "Online"]:
        await Event.create(
            database=shop.database,
            contact=contact,
            event_type=purchase,
            occurred_at="2026-01-01T00:00:00+00:00",
            properties={"store": store},
        )
    query = """query($t: ID!, $p: String!) { eventPropertyValues(eventTypeId: $t,
      property: $p) { value count } }"""
    token = accounts.token["GUEST"]
    result = await gql.execute(
        query, {"t": gid("EventType", purchase.id), "p": "store"}, token=token
    )
    assert result["data"]["eventPropertyValues"] == [
        {"value": "Milano", "count": 2},
        {"value": "Online", "count": 1},
    ]
    unknown = await gql.execute(
        query, {"t": gid("EventType", purchase.id), "p": "nope"}, token=token
    )
    assert codes(unknown) == ["BAD_USER_INPUT"]


async def test_other_database_catalog_is_not_found(gql, accounts, shop) -> None:
    token = accounts.token["POWERUSER"]
    fields = await gql.execute(FIELDS, {"db": shop.other_gid}, token=token)
    assert codes(fields) == ["NOT_FOUND"]
    values = await gql.execute(
        VALUES, {"f": await field_id(shop, "country", other=True)}, token=token
    )
    assert codes(values) == ["NOT_FOUND"]
    other_type = await EventType.get(database_id=shop.other.id, key="purchase")
    for node_id in (await field_id(shop, "city", other=True), gid("EventType", other_type.id)):
        node = await gql.execute(
            "query($id: ID!) { node(id: $id) { id } }", {"id": node_id}, token=token
        )
        assert codes(node) == ["NOT_FOUND"], node_id
    own = await gql.execute(
        "query($id: ID!) { node(id: $id) { ... on Field { key } } }",
        {"id": await field_id(shop, "city")},
        token=token,
    )
    assert own["data"]["node"] == {"key": "city"}


async def test_admin_updates_field_settings_with_audit(gql, accounts, shop) -> None:
    city = await field_id(shop, "city")
    result = await gql.execute(
        UPDATE,
        {"input": {"id": city, "label": " Town ", "visible": False, "inputType": "AUTOCOMPLETE"}},
        token=accounts.token["ADMIN"],
    )
    payload = result["data"]["updateField"]
    assert payload["userErrors"] == []
    assert payload["field"] == {
        "id": city,
        "label": "Town",
        "visible": False,
        "defaultInRules": False,
        "aggregable": False,
        "inputType": "AUTOCOMPLETE",
        "inputTypeOverride": "AUTOCOMPLETE",
    }
    entry = await AuditEntry.get(action="update", object_type="field")
    assert entry.before["label"] == "City" and entry.after["label"] == "Town"
    assert entry.database_id == shop.database.id
    reset = await gql.execute(
        UPDATE, {"input": {"id": city, "inputType": None}}, token=accounts.token["ADMIN"]
    )
    field = reset["data"]["updateField"]["field"]
    assert field["inputTypeOverride"] is None and field["inputType"] == "DRILL_DOWN"
    assert field["label"] == "Town" and field["visible"] is False


async def test_invalid_field_settings_change_nothing(gql, accounts, shop) -> None:
    city = await field_id(shop, "city")
    result = await gql.execute(
        UPDATE,
        {"input": {"id": city, "label": "  ", "visible": None, "aggregable": True}},
        token=accounts.token["ADMIN"],
    )
    payload = result["data"]["updateField"]
    assert payload["field"] is None
    assert {(tuple(e["path"]), e["code"]) for e in payload["userErrors"]} == {
        (("label",), "INVALID"),
        (("visible",), "REQUIRED"),
    }
    row = await Field.get(database_id=shop.database.id, key="city")
    assert (row.label, row.visible, row.aggregable) == ("City", True, False)
    assert not await AuditEntry.filter(object_type="field").exists()


@pytest.mark.parametrize("profile", ["POWERUSER", "USER", "GUEST"])
async def test_only_catalog_managers_update_fields(gql, accounts, shop, profile) -> None:
    result = await gql.execute(
        UPDATE,
        {"input": {"id": await field_id(shop, "city"), "label": "Hacked"}},
        token=accounts.token[profile],
    )
    assert codes(result) == ["FORBIDDEN"]
    assert (await Field.get(database_id=shop.database.id, key="city")).label == "City"


async def test_nul_in_value_filters_is_a_bad_argument(gql, accounts, shop) -> None:
    token = accounts.token["USER"]
    for field, argument in (("region", 'parentValue: "I\\u0000T"'), ("city", 'search: "\\u0000"')):
        result = await gql.execute(
            f"query($f: ID!) {{ fieldValues(fieldId: $f, {argument}) {{ value }} }}",
            {"f": await field_id(shop, field)},
            token=token,
        )
        assert codes(result) == ["BAD_USER_INPUT"], result
