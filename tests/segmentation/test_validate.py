"""Validation: each kind of mistake comes back with its path, message and code."""

from __future__ import annotations

import pytest

from segmentation import Catalog, InvalidSegment, compile_definition, prepare_segment
from segmentation import validate_definition as validate
from segmentation.catalog import EventTypeInfo, FieldInfo, PropertyInfo

CATALOG = Catalog(
    database_id=1,
    timezone="Europe/Rome",
    fields={
        "country": FieldInfo("country", "string", "column", "country"),
        "birth_date": FieldInfo("birth_date", "date", "column", "birth_date"),
        "gender": FieldInfo("gender", "enum", "column", "gender", enum_values=("F", "M")),
        "score": FieldInfo("score", "integer", "attribute"),
    },
    event_types={
        "purchase": EventTypeInfo(
            7, "purchase", "purchase", {"store": PropertyInfo("store", "string")}
        ),
    },
)


def contact(*conditions: dict) -> dict:
    return {"contact": {"conditions": list(conditions)}}


COUNTRY_IT = contact({"field": "country", "op": "eq", "value": "IT"})


async def errors(definition, **kwargs) -> list[tuple[str, str]]:
    return [(e.path, e.code) for e in await validate(definition, CATALOG, **kwargs)]


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("nope", [("definition", "wrong_type")]),
        ({}, [("root", "required")]),
        ({"root": {}}, [("root", "one_kind")]),
        ({"root": {"xor": []}}, [("root.xor", "unexpected_key")]),
        ({"root": {"and": []}}, [("root.and", "empty_group")]),
        ({"root": {"and": [COUNTRY_IT, {"contact": {"conditions": []}}]}},
         [("root.and[1].contact.conditions", "empty_group")]),
        ({"root": contact({"field": "shoe_size", "op": "eq", "value": 1})},
         [("root.contact.conditions[0].field", "unknown_field")]),
        ({"root": contact({"field": "country", "op": "gt", "value": "A"})},
         [("root.contact.conditions[0].op", "operator_not_allowed")]),
        ({"root": contact({"field": "country", "op": "resembles", "value": "A"})},
         [("root.contact.conditions[0].op", "unknown_operator")]),
        ({"root": contact({"field": "score", "op": "gt", "value": "ten"})},
         [("root.contact.conditions[0].value", "invalid_value")]),
        ({"root": contact({"field": "birth_date", "op": "lt", "value": "2024-02-30"})},
         [("root.contact.conditions[0].value", "invalid_value")]),
        ({"root": contact({"field": "gender", "op": "eq", "value": ["F", "Q"]})},
         [("root.contact.conditions[0].value", "invalid_value")]),
        ({"root": contact({"field": "score", "op": "between", "value": [5, 1]})},
         [("root.contact.conditions[0].value", "invalid_value")]),
        ({"root": contact({"field": "score", "op": "is_null", "value": 1})},
         [("root.contact.conditions[0].value", "invalid_value")]),
        ({"root": {"event": {"type": "refund"}}}, [("root.event.type", "unknown_event_type")]),
        ({"root": {"event": {"type": "purchase",
                             "conditions": [{"property": "colour", "op": "eq", "value": "x"}]}}},
         [("root.event.conditions[0].property", "unknown_property")]),
        ({"root": {"event": {"type": "purchase",
                             "aggregate": {"fn": "sum", "of": "store", "op": "gt", "value": 1}}}},
         [("root.event.aggregate.of", "not_aggregable")]),
        ({"root": {"event": {"type": "purchase", "count": {"op": "like", "value": 1}}}},
         [("root.event.count.op", "operator_not_allowed")]),
        ({"root": {"event": {"type": "purchase",
                             "window": {"last": {"amount": 3, "unit": "eon"}}}}},
         [("root.event.window.last.unit", "invalid_choice")]),
        ({"root": {"event": {"type": "purchase",
                             "window": {"between": {"from": "2024-05-01", "to": "2024-04-01"}}}}},
         [("root.event.window.between", "invalid_value")]),
        ({"root": {"sample": {"from": 5, "to": 200}}}, [("root.sample", "invalid_value")]),
        ({"root": {"sequence": [{"rule": COUNTRY_IT}, {"join": "xor", "rule": COUNTRY_IT}]}},
         [("root.sequence[1].join", "invalid_choice")]),
        ({"root": {"segment": {"id": 404}}}, [("root.segment.id", "unknown_segment")]),
    ],
)  # fmt: skip
async def test_each_mistake_names_its_path_and_code(definition, expected) -> None:
    assert await errors(definition) == expected


async def test_every_error_is_reported_with_a_message() -> None:
    found = await validate(
        {"root": {"and": [contact({"field": "nope", "op": "eq", "value": 1}),
                          contact({"field": "score", "op": "eq", "value": "x"})]}},
        CATALOG,
    )  # fmt: skip
    assert [e.path for e in found] == [
        "root.and[0].contact.conditions[0].field",
        "root.and[1].contact.conditions[0].value",
    ]
    assert "nope" in found[0].message and "integer" in found[1].message


async def test_tree_limits_come_from_the_caller() -> None:
    deep = COUNTRY_IT
    for _ in range(5):
        deep = {"not": deep}
    assert await errors({"root": deep}, max_depth=5) == [("root.not.not.not.not.not", "too_deep")]
    assert await errors({"root": deep}, max_depth=6) == []
    wide = {"root": {"or": [COUNTRY_IT] * 10}}
    # the group, then each rule and each of its conditions count as a node
    assert await errors(wide, max_nodes=8) == [("root.or[3].contact", "too_large")]


async def test_segment_cycles_are_named() -> None:
    stored = {
        1: {"root": {"and": [COUNTRY_IT, {"segment": {"id": 2}}]}},
        2: {"root": {"segment": {"id": 3, "in": False}}},
        3: {"root": {"segment": {"id": 1}}},
    }

    async def resolve(segment_id: int):
        return stored.get(segment_id)

    found = await validate(stored[1], CATALOG, resolve_segment=resolve, segment_id=1)
    # at the reference in the tree being edited; the message says where the cycle closes
    assert [(e.path, e.code) for e in found] == [("root.and[1].segment.id", "cycle")]
    assert "1 -> 2 -> 3 -> 1" in found[0].message
    assert "in segment 2 at root.segment.id: in segment 3 at root.segment.id" in found[0].message
    stored[3] = {"root": {"or": [COUNTRY_IT, {"segment": {"id": 404}}]}}
    deep = await validate(stored[1], CATALOG, resolve_segment=resolve, segment_id=1)
    assert [(e.path, e.code) for e in deep] == [("root.and[1].segment.id", "unknown_segment")]
    assert "root.or[1].segment.id: unknown segment 404" in deep[0].message
    self_ref = await validate({"root": {"segment": {"id": 9}}}, CATALOG, segment_id=9)
    assert [e.code for e in self_ref] == ["cycle"]


async def test_invalid_input_never_compiles() -> None:
    with pytest.raises(InvalidSegment) as caught:
        await prepare_segment({"root": contact({"field": "country", "op": "eq"})}, CATALOG)
    assert caught.value.errors[0].path == "root.contact.conditions[0].value"


async def test_values_are_bound_never_inlined() -> None:
    import datetime as dt

    nasty = "x'); DROP TABLE contact; --"
    segment = await prepare_segment(
        {"root": contact({"field": "country", "op": "eq", "value": nasty})}, CATALOG
    )
    compiled = compile_definition(segment, CATALOG, dt.datetime.now(dt.UTC))
    assert nasty not in compiled.sql
    assert nasty in compiled.params
