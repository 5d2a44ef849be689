"""A small shop for segment tests: two catalogued databases, contacts, events, helpers.

`shop` (Europe/Rome) is granted to every `accounts` user; `elsewhere` to nobody (only
ADMIN, which sees every database, reaches it).

    anna   F IT email-consent  purchases 600 (10 days ago) and 50 (200 days ago)
    bruno  M IT email-consent  purchase 100 (5 days ago)
    carla  F FR                opened "Newsletter X" (3 days ago)
    dario  M DE
    elena  F IT email-consent  purchase 30 (1 day ago)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from strawberry.relay import GlobalID

from models import Contact, ContactDatabase, Event, EventType, Segment
from models.standard_catalog import create_contact_database

PEOPLE = {
    "anna": ("F", "IT", True),
    "bruno": ("M", "IT", True),
    "carla": ("F", "FR", False),
    "dario": ("M", "DE", False),
    "elena": ("F", "IT", True),
}


def gid(type_name: str, pk: int) -> str:
    """The global id of object `pk` of a GraphQL type."""
    return str(GlobalID(type_name, str(pk)))


def women() -> dict[str, Any]:
    """JSON definition: gender F."""
    return {"root": {"contact": {"conditions": [{"field": "gender", "op": "eq", "value": "F"}]}}}


def buyers() -> dict[str, Any]:
    """JSON definition: at least one purchase."""
    return {"root": {"event": {"type": "purchase"}}}


@dataclass
class World:
    """The shop, its contacts and tokens per built-in profile."""

    accounts: Any
    shop: ContactDatabase
    elsewhere: ContactDatabase
    contacts: dict[str, Contact] = field(default_factory=dict)
    stranger: Contact | None = None  # a contact of `elsewhere`

    @property
    def shop_id(self) -> str:
        return gid("Database", self.shop.id)

    @property
    def elsewhere_id(self) -> str:
        return gid("Database", self.elsewhere.id)

    def token(self, profile: str) -> str:
        return self.accounts.token[profile]

    def user(self, profile: str) -> Any:
        return self.accounts.users[profile]

    async def segment(
        self, name: str, definition: dict[str, Any], *, profile: str = "USER", database=None
    ) -> Segment:
        """A segment saved directly (no GraphQL), authored by `profile`'s user."""
        return await Segment.create(
            database=database or self.shop,
            name=name,
            author=self.user(profile),
            definition=definition,
        )


async def _event(db: ContactDatabase, contact: Contact, key: str, days_ago: int, **kw) -> None:
    event_type = await EventType.get(database=db, key=key)
    await Event.create(
        database=db,
        contact=contact,
        event_type=event_type,
        occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago),
        **kw,
    )


async def build_world(accounts: Any) -> World:
    """The shop described in the module docstring."""
    shop = await create_contact_database("Shop", timezone="Europe/Rome")
    elsewhere = await create_contact_database("Elsewhere")
    for user in accounts.users.values():
        await user.databases.add(shop)
    world = World(accounts, shop, elsewhere)
    for name, (gender, country, consent) in PEOPLE.items():
        world.contacts[name] = await Contact.create(
            database=shop,
            external_id=name,
            email=f"{name}@example.com",
            first_name=name.title(),
            gender=gender,
            country=country,
            consent_email=consent,
        )
    c = world.contacts
    await _event(shop, c["anna"], "purchase", 10, value=Decimal("600"))
    await _event(shop, c["anna"], "purchase", 200, value=Decimal("50"))
    await _event(shop, c["bruno"], "purchase", 5, value=Decimal("100"))
    await _event(shop, c["carla"], "email_opened", 3, properties={"subject": "Newsletter X"})
    await _event(shop, c["elena"], "purchase", 1, value=Decimal("30"))
    world.stranger = await Contact.create(
        database=elsewhere, external_id="zed", gender="F", country="IT"
    )
    return world


async def run(gql: Any, token: str, query: str, variables: dict | None = None) -> dict:
    """`data` of a request that must succeed without errors."""
    result = await gql.execute(query, variables, token=token)
    assert "errors" not in result, result
    return result["data"]


async def error_codes(gql: Any, token: str, query: str, variables: dict | None = None) -> list:
    """The extensions.code of each top-level error of a request."""
    result = await gql.execute(query, variables, token=token)
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]
