"""A new contact database starts with the standard catalog."""

from models import ContactDatabase, EventType, Field
from models.contacts import CONTACT_COLUMNS
from models.enums import FieldStorage
from models.standard_catalog import STANDARD_EVENT_TYPES, create_contact_database


async def test_new_database_has_standard_fields_and_event_types(db: None) -> None:
    database = await create_contact_database("shop", timezone="Europe/Rome")
    fields = await Field.filter(database=database)
    assert {f.key for f in fields} >= {"email", "birth_date", "consent_email", "country"}
    assert all(f.storage == FieldStorage.COLUMN and f.column in CONTACT_COLUMNS for f in fields)
    assert {f.key for f in fields if f.pii} >= {"email", "phone", "first_name", "birth_date"}
    types = await EventType.filter(database=database)
    assert len(types) == len(STANDARD_EVENT_TYPES)
    assert (await ContactDatabase.get(id=database.id)).timezone == "Europe/Rome"


async def test_catalogs_are_per_database(db: None) -> None:
    a = await create_contact_database("a")
    b = await create_contact_database("b")
    assert await Field.filter(database=a).count() == await Field.filter(database=b).count()
    assert not set(await Field.filter(database=a).values_list("id", flat=True)) & set(
        await Field.filter(database=b).values_list("id", flat=True)
    )
