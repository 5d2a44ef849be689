"""Shared set-up for the catalog and contacts tests (no tests here): a database with the
standard catalog plus attribute fields, granted to every profile's user, and API keys."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from models import ApiKey, Contact, ContactDatabase, DataType, Field, FieldStorage, Profile
from models.standard_catalog import create_contact_database
from permissions.apikeys import generate_api_key

# (key, data type, personal data, extra)
ATTRIBUTE_FIELDS = [
    ("points", DataType.INTEGER, False, {}),
    ("lifetime_value", DataType.DECIMAL, False, {}),
    ("vip", DataType.BOOLEAN, False, {}),
    ("loyalty_tier", DataType.ENUM, False, {"enum_values": ["bronze", "silver", "gold"]}),
    ("interests", DataType.STRING_LIST, False, {}),
    ("last_seen", DataType.DATETIME, False, {}),
    ("first_purchase_date", DataType.DATE, False, {}),
    ("nickname", DataType.STRING, False, {}),
    ("tax_code", DataType.STRING, True, {}),
]


def gid(type_name: str, pk: int) -> str:
    """The global id of object `pk` of GraphQL type `type_name`."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def codes(result: dict) -> list[str]:
    """The extensions.code of every top-level error."""
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]


@dataclass
class Shop:
    """A database with the standard catalog and attribute fields, and a second one."""

    database: ContactDatabase
    other: ContactDatabase

    @property
    def gid(self) -> str:
        return gid("Database", self.database.id)

    @property
    def other_gid(self) -> str:
        return gid("Database", self.other.id)


async def add_attribute_fields(database: ContactDatabase) -> None:
    """The ATTRIBUTE_FIELDS in the database's catalog."""
    for position, (key, data_type, pii, extra) in enumerate(ATTRIBUTE_FIELDS, start=100):
        await Field.create(
            database=database,
            key=key,
            label=key.replace("_", " ").title(),
            data_type=data_type,
            storage=FieldStorage.ATTRIBUTE,
            pii=pii,
            position=position,
            **extra,
        )


async def make_shop(accounts) -> Shop:
    """ "Shop" (granted to every built-in profile's user) and "Elsewhere" (granted to none),
    both with the standard catalog and the attribute fields."""
    database = await create_contact_database("Shop", timezone="Europe/Rome")
    other = await create_contact_database("Elsewhere")
    for db in (database, other):
        await add_attribute_fields(db)
    for user in accounts.users.values():
        await user.databases.add(database)
    return Shop(database, other)


async def make_api_key(accounts, profile: str, databases: list[ContactDatabase]) -> str:
    """A new API key (its secret) with `profile` and grants on `databases`."""
    new = generate_api_key()
    key = await ApiKey.create(
        name=f"{profile.lower()} partner",
        prefix=new.prefix,
        key_hash=new.key_hash,
        profile=await Profile.get(name=profile),
        created_by=accounts.users["ADMIN"],
    )
    await key.databases.add(*databases)
    return new.secret


async def make_contact(database: ContactDatabase, external_id: str, **values) -> Contact:
    """A contact stored directly (set-up for read tests)."""
    return await Contact.create(database=database, external_id=external_id, **values)
