"""models/fast_rows.py builds the same instances as Tortoise's own `_init_from_db`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from tortoise import connections
from tortoise.models import Model

from models import Event, EventType, Profile, Segment, User
from models.fast_rows import FastRows
from models.standard_catalog import create_contact_database
from permissions.bootstrap import ensure_builtin_profiles

FAST_MODELS = [Segment, User, Event]


def _tortoise(model: type[Model], row: Any) -> Model:
    return super(FastRows, model)._init_from_db(**row)  # type: ignore[misc]


def _state(instance: Model) -> dict[str, Any]:
    return {k: v for k, v in instance.__dict__.items() if not k.startswith("_") or k in {
        "_partial", "_saved_in_db", "_custom_generated_pk", "_await_when_save"}}  # fmt: skip


async def _seed() -> None:
    await ensure_builtin_profiles()
    profile = await Profile.get(name="ADMIN")
    user = await User.create(username="ann", password_hash="x", profile=profile, email=None)
    await User.create(
        username="bob", password_hash="y", profile=profile, display_name="Bob",
        last_login_at=dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC),
    )  # fmt: skip
    database = await create_contact_database("shop", timezone="Europe/Rome")
    await Segment.create(
        database=database, name="é 'x'", author=user, tags=["a", "b"],
        definition={"root": {"contact": {"conditions": [{"field": "country", "op": "eq",
                                                         "value": "IT"}]}}},
    )  # fmt: skip
    await Segment.create(
        database=database, name="counted", author=user, definition={"root": {"and": []}},
        last_count=7, counted_at=dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        deleted_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    conn = connections.get("default")
    contact = await conn.execute_query_dict(
        "INSERT INTO contact (database_id, external_id, attributes, consent_email, consent_sms,"
        " consent_push, created_at, updated_at) VALUES ($1, 'c', '{}', true, false, false,"
        " now(), now()) RETURNING id",
        [database.id],
    )
    kind = await EventType.get(database=database, key="purchase")
    for value, props in ((Decimal("12.50"), {"sku": "A", "n": [1, 2]}), (None, {})):
        await Event.create(
            database=database, contact_id=contact[0]["id"], event_type=kind,
            occurred_at=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC), value=value,
            properties=props,
        )  # fmt: skip


async def test_fast_rows_equal_tortoise_rows(db: None) -> None:
    await _seed()
    conn = connections.get("default")
    for model in FAST_MODELS:
        _, records = await conn.execute_query(f'SELECT * FROM "{model._meta.db_table}"')
        assert records, model
        for record in records:
            fast, slow = model._init_from_db(**record), _tortoise(model, record)
            assert _state(fast) == _state(slow), model
            assert _state(fast).keys() == _state(slow).keys()


async def test_queries_return_fast_rows_and_partial_rows_fall_back(db: None) -> None:
    await _seed()
    segments = await Segment.all().order_by("id")
    assert segments[0].definition["root"]["contact"]["conditions"][0]["value"] == "IT"
    assert segments[0].tags == ["a", "b"] and not segments[0]._partial
    assert segments[1].counted_at == dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    partial = await Segment.all().only("id", "name").order_by("id")
    assert [s.name for s in partial] == ["é 'x'", "counted"] and partial[0]._partial
    segments[1].name = "renamed"
    await segments[1].save(update_fields=["name"])
    assert (await Segment.get(id=segments[1].id)).name == "renamed"
