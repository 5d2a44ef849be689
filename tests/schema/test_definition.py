"""Definitions as typed `@oneOf` inputs and objects, as JSON, and their validation errors
with the input field + the node path."""

from __future__ import annotations

import pytest

from models import Segment
from tests.schema.segment_world import build_world, error_codes, gid, run, women

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE = """
mutation($db: ID!, $def: DefinitionInput, $json: JSON) {
  createSegment(input: {databaseId: $db, name: "s", definition: $def, definitionJson: $json}) {
    segment { id definitionJson }
    userErrors { path message code }
  }
}"""

WINDOW = "window { anytime after before between { from to } last { amount unit } }"
CONDITIONS = "conditions { property op value }"
READ = f"""
query($id: ID!) {{
  segment(id: $id) {{
    definition {{
      root {{
        path
        and {{
          path
          contact {{ match conditions {{ field op value }} }}
          event {{ type have match {CONDITIONS} {WINDOW} count {{ op value }}
                   aggregate {{ fn of op value }} share {{ op value }} }}
          not {{ path segment {{ segmentId in segment {{ name }} }} }}
          sequence {{ join rule {{ path sample {{ seed buckets from to }}
                                   correlation {{ op days
                                     first {{ type occurrence match {CONDITIONS} {WINDOW} }}
                                     second {{ type occurrence {WINDOW} }} }} }} }}
        }}
      }}
      refine {{ order limit metric {{ type fn of {WINDOW} }} }}
    }}
  }}
}}"""


def _every_kind(ref: str) -> dict:
    """A typed definition using every node kind, window kind and test."""
    return {
        "root": {
            "and": [
                {"contact": {"match": "ANY", "conditions": [
                    {"field": "country", "op": "eq", "value": ["IT", "FR"]},
                    {"field": "birth_date", "op": "is_null"},
                ]}},
                {"event": {
                    "type": "purchase_line", "have": True, "match": "ALL",
                    "conditions": [{"property": "category", "op": "eq", "value": "shoes"}],
                    "window": {"between": {"from": "2026-01-01", "to": "2026-03-31"}},
                    "count": {"op": "gte", "value": 1},
                    "aggregate": {"fn": "SUM", "of": "$value", "op": "gt", "value": 10},
                    "share": {"op": "gte", "percent": 10},
                }},
                {"not": {"segment": {"id": ref, "in": True}}},
                {"sequence": [
                    {"rule": {"sample": {"seed": "ctl", "buckets": 100, "from": 0, "to": 10}}},
                    {"join": "EXCEPT", "rule": {"correlation": {
                        "first": {"type": "purchase", "occurrence": "LAST",
                                  "window": {"last": {"amount": 90, "unit": "DAY"}}},
                        "second": {"type": "email_opened",
                                   "window": {"after": {"relative": {"amount": -30, "unit": "day"}}}},  # noqa: E501
                        "op": "WITHIN_AFTER", "days": 5,
                    }}},
                ]},
            ]
        },
        "refine": {"order": "TOP", "limit": 100,
                   "metric": {"type": "purchase", "fn": "SUM", "window": {"anytime": True}}},
    }  # fmt: skip


async def test_typed_definition_is_stored_as_json_and_read_back_typed(gql, accounts) -> None:
    world = await build_world(accounts)
    women_segment = await world.segment("Women", women())
    created = await run(
        gql,
        world.token("USER"),
        CREATE,
        {"db": world.shop_id, "def": _every_kind(gid("Segment", women_segment.id))},
    )
    payload = created["createSegment"]
    assert payload["userErrors"] == []
    stored = payload["segment"]["definitionJson"]
    assert stored["root"]["and"][2] == {"not": {"segment": {"id": women_segment.id, "in": True}}}
    assert stored["root"]["and"][0]["contact"]["match"] == "any"
    assert stored["root"]["and"][0]["contact"]["conditions"][1] == {
        "field": "birth_date",
        "op": "is_null",
    }
    assert stored["root"]["and"][3]["sequence"][1]["join"] == "except"
    assert stored["refine"]["metric"] == {
        "type": "purchase",
        "fn": "sum",
        "window": {"anytime": True},
    }

    read = await run(gql, world.token("GUEST"), READ, {"id": payload["segment"]["id"]})
    definition = read["segment"]["definition"]
    root = definition["root"]
    assert root["path"] == "root.and"
    contact, event, negation, sequence = root["and"]
    kinds = ["contact", "event", "not", "sequence"]
    assert [n["path"] for n in root["and"]] == [f"root.and[{i}].{k}" for i, k in enumerate(kinds)]
    assert contact["contact"] == {
        "match": "ANY",
        "conditions": [
            {"field": "country", "op": "eq", "value": ["IT", "FR"]},
            {"field": "birth_date", "op": "is_null", "value": None},
        ],
    }
    assert event["event"]["window"]["between"] == {"from": "2026-01-01", "to": "2026-03-31"}
    assert event["event"]["aggregate"] == {"fn": "SUM", "of": "$value", "op": "gt", "value": 10}
    assert event["event"]["share"] == {"op": "gte", "value": 10}
    assert negation["not"]["segment"] == {
        "segmentId": gid("Segment", women_segment.id),
        "in": True,
        "segment": {"name": "Women"},
    }
    first, second = sequence["sequence"]
    assert first["join"] is None and first["rule"]["sample"]["to"] == 10
    correlation = second["rule"]["correlation"]
    assert second["join"] == "EXCEPT" and correlation["op"] == "WITHIN_AFTER"
    assert correlation["first"]["occurrence"] == "LAST"
    assert correlation["first"]["window"]["last"] == {"amount": 90, "unit": "DAY"}
    assert correlation["second"]["occurrence"] == "FIRST"
    assert correlation["second"]["window"]["after"] == {"relative": {"amount": -30, "unit": "day"}}
    assert definition["refine"]["order"] == "TOP" and definition["refine"]["limit"] == 100


async def test_validation_errors_name_the_input_field_and_the_node_path(gql, accounts) -> None:
    world = await build_world(accounts)
    typed = {
        "root": {
            "and": [
                {"event": {"type": "purchase"}},
                {"contact": {"conditions": [{"field": "shoe_size", "op": "eq", "value": 42}]}},
            ]
        }
    }
    result = await run(gql, world.token("USER"), CREATE, {"db": world.shop_id, "def": typed})
    errors = result["createSegment"]["userErrors"]
    assert [(e["path"], e["code"]) for e in errors] == [
        (["definition", "root", "and", "1", "contact", "conditions", "0", "field"], "UNKNOWN_FIELD")
    ]
    assert "shoe_size" in errors[0]["message"]

    as_json = {
        "root": {
            "or": [
                {"event": {"type": "teleported"}},
                {"contact": {"conditions": [{"field": "gender", "op": "gt", "value": "F"}]}},
            ]
        }
    }
    result = await run(gql, world.token("USER"), CREATE, {"db": world.shop_id, "json": as_json})
    paths = {tuple(e["path"]): e["code"] for e in result["createSegment"]["userErrors"]}
    assert paths == {
        ("definitionJson", "root", "or", "0", "event", "type"): "UNKNOWN_EVENT_TYPE",
        ("definitionJson", "root", "or", "1", "contact", "conditions", "0", "op"): (
            "OPERATOR_NOT_ALLOWED"
        ),
    }

    shapeless = {"root": {"and": []}, "extra": 1}
    result = await run(gql, world.token("USER"), CREATE, {"db": world.shop_id, "json": shapeless})
    paths = {tuple(e["path"]): e["code"] for e in result["createSegment"]["userErrors"]}
    assert paths == {
        ("definitionJson", "extra"): "UNEXPECTED_KEY",
        ("definitionJson", "root", "and"): "EMPTY_GROUP",
    }
    assert await Segment.all().count() == 0


async def test_a_cycle_is_refused_with_the_cycle_named(gql, accounts) -> None:
    world = await build_world(accounts)
    a = await world.segment("A", women())
    b = await world.segment("B", {"root": {"segment": {"id": a.id}}})
    update = """
    mutation($id: ID!, $json: JSON) {
      updateSegment(input: {id: $id, version: 1, definitionJson: $json}) {
        segment { version } userErrors { path message code }
      }
    }"""
    cyclic = {"root": {"segment": {"id": gid("Segment", b.id)}}}
    result = await run(
        gql, world.token("USER"), update, {"id": gid("Segment", a.id), "json": cyclic}
    )
    errors = result["updateSegment"]["userErrors"]
    assert [(e["path"], e["code"]) for e in errors] == [
        (["definitionJson", "root", "segment", "id"], "CYCLE")
    ]
    assert f"{a.id} -> {b.id} -> {a.id}" in errors[0]["message"]
    assert (await Segment.get(id=a.id)).definition == women()
    live = """
    query($db: ID!, $json: JSON, $id: ID) {
      countDefinition(databaseId: $db, definitionJson: $json, segmentId: $id) {
        count userErrors { path code }
      }
    }"""
    editing = {"db": world.shop_id, "json": cyclic, "id": gid("Segment", a.id)}
    counted = (await run(gql, world.token("USER"), live, editing))["countDefinition"]
    assert counted == {
        "count": None,
        "userErrors": [{"path": ["definitionJson", "root", "segment", "id"], "code": "CYCLE"}],
    }
    new = (await run(gql, world.token("USER"), live, {**editing, "id": None}))["countDefinition"]
    assert new == {"count": 3, "userErrors": []}


async def test_one_of_inputs_take_exactly_one_kind_and_one_form(gql, accounts) -> None:
    world = await build_world(accounts)
    two_kinds = {
        "root": {"event": {"type": "purchase"}, "sample": {"seed": "x", "from": 0, "to": 1}}
    }
    result = await gql.execute(
        CREATE, {"db": world.shop_id, "def": two_kinds}, token=world.token("USER")
    )
    assert result.get("data") is None and result["errors"]
    both = await run(
        gql,
        world.token("USER"),
        CREATE,
        {"db": world.shop_id, "def": {"root": {"event": {"type": "purchase"}}}, "json": women()},
    )
    assert [e["path"] for e in both["createSegment"]["userErrors"]] == [["definitionJson"]]
    neither = await run(gql, world.token("USER"), CREATE, {"db": world.shop_id})
    assert [(e["path"], e["code"]) for e in neither["createSegment"]["userErrors"]] == [
        (["definition"], "REQUIRED")
    ]
    not_a_segment = {"root": {"segment": {"id": gid("Database", world.shop.id)}}}
    wrong = await run(gql, world.token("USER"), CREATE, {"db": world.shop_id, "def": not_a_segment})
    assert [e["path"] for e in wrong["createSegment"]["userErrors"]] == [
        ["definition", "root", "segment", "id"]
    ]
    assert await Segment.all().count() == 0
    assert await error_codes(gql, world.token("USER"), "{ __typename }") == []


FIELDS = """
query($name: String!) {
  __type(name: $name) { fields { name description } inputFields { name description } }
}"""

DEFAULTS = {  # input fields with a default in the JSON format: the docs must say it
    "EventRuleInput": ["have", "match", "conditions", "window"],
    "EventPickInput": ["occurrence", "match", "conditions", "window"],
    "ContactRuleInput": ["match"],
    "AggregateTestInput": ["of"],
    "RefineMetricInput": ["of", "window"],
    "SegmentReferenceInput": ["in"],
    "SampleRuleInput": ["buckets"],
}


async def test_the_docs_pane_explains_every_node_kind_and_default(gql, accounts) -> None:
    token = accounts.token["GUEST"]

    async def described(name: str) -> dict[str, str]:
        found = (await run(gql, token, FIELDS, {"name": name}))["__type"]
        return {f["name"]: f["description"] or "" for f in found["fields"] or found["inputFields"]}

    for name in ("DefinitionNodeInput", "DefinitionNode"):
        for field, text in (await described(name)).items():
            assert len(text) >= 40, (name, field, text)  # not "Demographic." / "A sample."
        kinds = await described(name)
        for kind in ("contact", "event", "sample"):
            assert "e.g." in kinds[kind].lower(), (name, kind)
    for name, fields in DEFAULTS.items():
        docs = await described(name)
        for field in fields:
            assert "default" in docs[field].lower(), (name, field, docs[field])
    event = await described("EventRuleInput")
    assert "NOT" in event["have"] and "true" in event["have"]
    assert "percentage" in event["share"] and "e.g." in event["share"]
    reference = (await described("SegmentReferenceInput"))["id"]
    assert "global id" in reference and "number" in reference
    stored = (await described("Segment"))["definitionJson"]
    assert "global id" in stored and "number" in stored and "either" in stored
