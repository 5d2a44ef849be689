"""Typed event columns (migration 0003): the same value the JSONB gives, used by the SQL."""

from __future__ import annotations

import datetime as dt

from segmentation import Catalog, compile_definition, prepare_segment
from segmentation.compile import json_typed
from segmentation.reference import Dataset
from segmentation.run import connection
from tests.segmentation.conftest import contact_row, insert_dataset

AS_OF = dt.datetime(2024, 3, 31, 10, 0, tzinfo=dt.UTC)
CATEGORIES = ["shoes", "Shoes", "", "日本", "o'q", 7, None, True, ["shoes"], {"a": "shoes"}]


async def test_event_category_column_equals_the_jsonb_read(shop: Catalog) -> None:
    events = [
        {"contact_id": 1, "event_type": t, "occurred_at": AS_OF, "properties": p}
        for t in ("purchase_line", "product_viewed", "email_clicked")
        for p in [{"category": c} for c in CATEGORIES] + [{}]
    ]
    await insert_dataset(shop, Dataset([contact_row(1)], events))
    from_json = json_typed("(e.properties -> 'category')", "string")
    async with connection() as c:
        rows = await c.fetch(
            f"SELECT e.category, {from_json} AS j FROM event e WHERE e.database_id = $1",
            shop.database_id,
        )
    assert len(rows) == len(events)
    assert all(r["category"] == r["j"] for r in rows)
    assert sorted(r["category"] for r in rows if r["category"] is not None) == sorted(
        [c for c in CATEGORIES if isinstance(c, str)] * 3
    )


async def test_category_conditions_read_the_typed_column(shop: Catalog) -> None:
    conditions = [
        {"property": "category", "op": "eq", "value": "shoes"},
        {"property": "quantity", "op": "gt", "value": 1},
    ]
    share = {"event": {"type": "purchase_line", "conditions": conditions,
                       "share": {"op": "gte", "percent": 30}}}  # fmt: skip
    segment = await prepare_segment({"root": share}, shop)
    compiled = compile_definition(segment, shop, AS_OF)
    assert "e.category = $" in compiled.sql
    assert "e.properties -> $" in compiled.sql  # other properties: from the JSONB
    assert "'category'" not in compiled.sql and "shoes" not in compiled.sql
