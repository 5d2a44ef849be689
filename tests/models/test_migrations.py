"""The migrations build the whole data model and the indexes segment SQL relies on."""

from tortoise import Tortoise

from models import Contact, ContactDatabase, Event, EventType
from models.enums import EventCategory


async def test_migrations_create_every_model_table(db: None) -> None:
    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    tables = {r["tablename"] for r in rows}
    for model in Tortoise.apps.get_models_iterable():
        assert model._meta.db_table in tables


async def test_event_indexes_exist(db: None) -> None:
    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict("SELECT indexname FROM pg_indexes WHERE tablename='event'")
    names = {r["indexname"] for r in rows}
    assert {"event_contact_type_time", "event_type_time", "event_external_id"} <= names


async def test_external_ids_are_unique_per_database(db: None) -> None:
    import pytest
    from tortoise.exceptions import IntegrityError

    a = await ContactDatabase.create(name="a")
    b = await ContactDatabase.create(name="b")
    await Contact.create(database=a, external_id="x1")
    await Contact.create(database=b, external_id="x1")  # same id, other database: fine
    with pytest.raises(IntegrityError):
        await Contact.create(database=a, external_id="x1")


async def test_event_external_id_unique_only_when_given(db: None) -> None:
    from datetime import UTC, datetime

    import pytest
    from tortoise.exceptions import IntegrityError

    d = await ContactDatabase.create(name="a")
    c = await Contact.create(database=d, external_id="c1")
    t = await EventType.create(
        database=d, key="purchase", label="Purchase", category=EventCategory.PURCHASE
    )
    now = datetime.now(UTC)
    await Event.create(database=d, contact=c, event_type=t, occurred_at=now)
    await Event.create(database=d, contact=c, event_type=t, occurred_at=now)
    await Event.create(database=d, contact=c, event_type=t, occurred_at=now, external_id="e1")
    with pytest.raises(IntegrityError):
        await Event.create(database=d, contact=c, event_type=t, occurred_at=now, external_id="e1")
