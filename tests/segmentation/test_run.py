"""Count, preview pages, streaming, INSERT ... SELECT, explain, field values and input types."""

from __future__ import annotations

import datetime as dt

from tortoise import connections

from segmentation import (
    Catalog,
    compile_definition,
    count_definition,
    count_members,
    explain_contact,
    field_values,
    input_type_for,
    insert_members_sql,
    member_subquery,
    prepare_segment,
    preview_members,
    refresh_distinct_counts,
    stream_member_ids,
)
from segmentation.catalog import FieldInfo
from segmentation.reference import Dataset
from tests.segmentation.conftest import contact_row, insert_dataset

AS_OF = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)
ITALIANS = {"root": {"contact": {"conditions": [{"field": "country", "op": "eq", "value": "IT"}]}}}


async def _italians(shop: Catalog, n: int = 25):
    data = Dataset([contact_row(i, country="IT" if i % 2 else "FR") for i in range(1, n + 1)])
    await insert_dataset(shop, data)
    return compile_definition(await prepare_segment(ITALIANS, shop), shop, AS_OF)


async def test_count_preview_and_stream_agree(shop: Catalog) -> None:
    compiled = await _italians(shop)
    assert await count_members(compiled) == 13
    page1 = await preview_members(compiled, first=5)
    assert page1.contact_ids == [1, 3, 5, 7, 9] and page1.has_next_page
    page3 = await preview_members(compiled, first=5, after=19)
    assert page3.contact_ids == [21, 23, 25] and not page3.has_next_page
    batches = [batch async for batch in stream_member_ids(compiled, batch_size=4)]
    assert [len(b) for b in batches] == [4, 4, 4, 1]
    assert sorted(i for b in batches for i in b) == list(range(1, 26, 2))


async def test_live_count_of_an_unsaved_definition(shop: Catalog) -> None:
    await _italians(shop, 9)
    assert await count_definition(ITALIANS, shop.database_id, AS_OF) == 5


async def test_segments_of_another_database_are_not_counted(shop: Catalog) -> None:
    from tests.segmentation.conftest import make_shop

    other = await make_shop("other")
    await insert_dataset(other, Dataset([contact_row(100, country="IT")]))
    compiled = await _italians(shop, 3)
    assert await count_members(compiled) == 2


async def test_insert_select_writes_every_member_once(shop: Catalog) -> None:
    compiled = await _italians(shop, 10)
    async with connections.get("default").acquire_connection() as c:
        await c.execute(
            "CREATE TEMP TABLE picked (run int, contact_id bigint, UNIQUE (run, contact_id))"
        )
        sql, params = insert_members_sql(
            compiled,
            "picked",
            constants={"run": (7, "integer")},
            conflict_columns=["run", "contact_id"],
        )
        await c.execute(sql, *params)
        await c.execute(sql, *params)  # idempotent with a conflict target
        rows = await c.fetch("SELECT run, contact_id FROM picked ORDER BY contact_id")
        embedded = await c.fetchval(
            f"SELECT count(*) FROM contact x WHERE x.id IN {member_subquery(compiled)}",
            *compiled.params,
        )
        await c.execute("DROP TABLE picked")
    assert [tuple(r) for r in rows] == [(7, i) for i in (1, 3, 5, 7, 9)]
    assert embedded == 5


async def test_explain_says_why_a_contact_is_out(shop: Catalog) -> None:
    await insert_dataset(shop, Dataset([contact_row(1, country="IT", first_name="Ann")]))
    definition = {"root": {"and": [
        ITALIANS["root"],
        {"contact": {"match": "any", "conditions": [
            {"field": "first_name", "op": "starts_with", "value": "B"},
            {"field": "first_name", "op": "eq", "value": "Bob"}]}},
        {"event": {"type": "purchase", "have": False}},
    ]}}  # fmt: skip
    compiled = compile_definition(await prepare_segment(definition, shop), shop, AS_OF)
    explanation = await explain_contact(compiled, 1)
    assert explanation is not None and not explanation.member
    truth = {n.path: n.value for n in explanation.nodes}
    assert truth == {
        "root.and": False,
        "root.and[0].contact": True,
        "root.and[0].contact.conditions[0]": True,
        "root.and[1].contact": False,
        "root.and[1].contact.conditions[0]": False,
        "root.and[1].contact.conditions[1]": False,
        "root.and[2].event": True,
    }
    assert await explain_contact(compiled, 999) is None


async def test_field_values_search_and_drill_down(shop: Catalog) -> None:
    rows = [("IT", "Lazio", "Roma"), ("IT", "Lazio", "Roma"), ("IT", "Lombardia", "Milano"),
            ("FR", "Île-de-France", "Paris"), ("IT", "Lazio", "Latina")]  # fmt: skip
    data = Dataset(
        [contact_row(i, country=c, region=r, city=t) for i, (c, r, t) in enumerate(rows, 1)]
    )
    await insert_dataset(shop, data)
    top = await field_values(shop, "city")
    assert [(v.value, v.count) for v in top][:1] == [("Roma", 2)]
    assert [v.value for v in await field_values(shop, "city", search="MIL")] == ["Milano"]
    lazio = await field_values(shop, "city", parent_value="Lazio")
    assert sorted(v.value for v in lazio) == ["Latina", "Roma"]
    counts = await refresh_distinct_counts(shop)
    assert counts["city"] == 4 and counts["country"] == 2


def test_input_type_from_distinct_count_thresholds() -> None:
    def string(count):
        return FieldInfo("f", "string", distinct_count=count)

    assert [input_type_for(string(n)) for n in (2, 5, 6, 50, 51, 5000, 5001, None)] == [
        "checkbox", "checkbox", "multiple_options", "multiple_options", "autocomplete",
        "autocomplete", "free_text", "free_text",
    ]  # fmt: skip
    assert input_type_for(FieldInfo("b", "boolean")) == "checkbox"
    assert input_type_for(FieldInfo("d", "date")) == "calendar"
    assert input_type_for(FieldInfo("n", "decimal")) == "number"
    region = FieldInfo("region", "string", parent_key="country", distinct_count=20)
    assert input_type_for(region) == "drill_down"
    country = FieldInfo("country", "string", distinct_count=3)
    assert input_type_for(country, [country, region]) == "drill_down"
    assert input_type_for(FieldInfo("x", "string", input_type="relative_date")) == "relative_date"
    assert input_type_for(string(3), thresholds=[(1, "checkbox")]) == "free_text"
