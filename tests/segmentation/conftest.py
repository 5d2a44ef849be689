"""Fixtures for segmentation: a shop database with typed attribute fields, and data helpers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest_asyncio
from tortoise import connections

from models import Field
from models.enums import DataType, FieldStorage
from models.standard_catalog import create_contact_database
from segmentation import Catalog, load_catalog
from segmentation.reference import Dataset

# Custom typed attributes (storage=attribute) beside the standard contact columns.
ATTRIBUTE_FIELDS: list[tuple[str, DataType, dict[str, Any]]] = [
    ("nickname", DataType.STRING, {}),
    ("score", DataType.INTEGER, {"aggregable": True}),
    ("ltv", DataType.DECIMAL, {"aggregable": True}),
    ("vip", DataType.BOOLEAN, {}),
    ("signup", DataType.DATE, {}),
    ("last_seen", DataType.DATETIME, {}),
    ("tags", DataType.STRING_LIST, {}),
    ("tier", DataType.ENUM, {"enum_values": ["gold", "silver", "bronze"]}),
]

CONTACT_INSERT_COLUMNS = (
    "external_id",
    "email",
    "first_name",
    "country",
    "city",
    "region",
    "gender",
    "birth_date",
    "consent_email",
    "created_at",
)


async def make_shop(name: str = "shop", timezone: str = "Europe/Rome") -> Catalog:
    """A contact database with the standard catalog plus ATTRIBUTE_FIELDS."""
    database = await create_contact_database(name, timezone=timezone)
    for i, (key, data_type, extra) in enumerate(ATTRIBUTE_FIELDS):
        await Field.create(
            database=database,
            key=key,
            label=key.title(),
            data_type=data_type,
            storage=FieldStorage.ATTRIBUTE,
            position=100 + i,
            **extra,
        )
    return await load_catalog(database.id)


@pytest_asyncio.fixture(loop_scope="session")
async def shop(db: None) -> Catalog:
    """An empty shop database (Europe/Rome) and its catalog."""
    return await make_shop()


def contact_row(contact_id: int, **values: Any) -> dict[str, Any]:
    """A contact dict for a Dataset: every insert column (None unless given) + attributes."""
    row: dict[str, Any] = {c: None for c in CONTACT_INSERT_COLUMNS}
    row.update(
        id=contact_id,
        external_id=f"x{contact_id}",
        consent_email=False,
        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        attributes={},
    )
    row.update(values)
    return row


async def insert_dataset(catalog: Catalog, data: Dataset, conn: Any = None) -> None:
    """Write a Dataset's contacts and events into the catalog's database."""
    columns = ", ".join(CONTACT_INSERT_COLUMNS)
    placeholders = ", ".join(f"${i + 3}" for i in range(len(CONTACT_INSERT_COLUMNS)))
    n = len(CONTACT_INSERT_COLUMNS) + 3
    contact_sql = (
        f"INSERT INTO contact (id, database_id, {columns}, attributes, consent_sms, consent_push,"
        f" updated_at) VALUES ($1, $2, {placeholders}, ${n}::jsonb, false, false, now())"
    )
    event_sql = (
        "INSERT INTO event (database_id, contact_id, event_type_id, occurred_at, value, properties)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
    )
    types = catalog.event_types

    async def write(c: Any) -> None:
        await c.executemany(
            contact_sql,
            [
                (
                    row["id"],
                    catalog.database_id,
                    *(row[col] for col in CONTACT_INSERT_COLUMNS),
                    json.dumps(row["attributes"]),
                )
                for row in data.contacts
            ],
        )
        if data.events:
            await c.executemany(
                event_sql,
                [
                    (
                        catalog.database_id,
                        e["contact_id"],
                        types[e["event_type"]].id,
                        e["occurred_at"],
                        e.get("value"),
                        json.dumps(e.get("properties") or {}),
                    )
                    for e in data.events
                ],
            )

    if conn is not None:
        await write(conn)
    else:
        async with connections.get("default").acquire_connection() as c:
            await write(c)


async def clear_dataset(catalog: Catalog) -> None:
    """Remove a database's contacts and events (between hypothesis examples)."""
    async with connections.get("default").acquire_connection() as c:
        await c.execute("DELETE FROM event WHERE database_id = $1", catalog.database_id)
        await c.execute("DELETE FROM contact WHERE database_id = $1", catalog.database_id)
