"""Small hand-made contact databases for the dashboard tests."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from models import Contact, ContactDatabase, Event, EventType
from models.standard_catalog import create_contact_database

_ids = itertools.count(1)


async def new_database(timezone: str = "UTC", name: str | None = None) -> ContactDatabase:
    return await create_contact_database(name or f"dash-{next(_ids)}", timezone=timezone)


async def add_contact(database: ContactDatabase, **columns: Any) -> Contact:
    return await Contact.create(database=database, external_id=f"c{next(_ids)}", **columns)


async def add_event(
    contact: Contact,
    key: str,
    occurred_at: datetime,
    value: float | None = None,
    **properties: Any,
) -> Event:
    event_type = await EventType.get(database_id=contact.database_id, key=key)  # type: ignore[attr-defined]
    return await Event.create(
        database_id=contact.database_id,  # type: ignore[attr-defined]
        contact=contact,
        event_type=event_type,
        occurred_at=occurred_at,
        value=None if value is None else Decimal(str(value)),
        properties=properties,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def values(panel: Any, series: int = 0) -> dict[str, float]:
    """label -> value of one series of a panel."""
    return {p.label: p.value for p in panel.series[series].points}


def summary(panel: Any) -> dict[str, float]:
    return {p.label: p.value for p in panel.summary}


def day(text: str) -> date:
    return date.fromisoformat(text)
