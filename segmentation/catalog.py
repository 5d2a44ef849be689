"""The catalog a definition is checked and compiled against, loaded from the database.

Also: the UI input type of a field, chosen from its distinct-value count with thresholds
kept as data (`INPUT_TYPE_THRESHOLDS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from models import ContactDatabase, EventType
from models import Field as FieldModel

# (maximum distinct values, input type) for string fields, smallest first; above all: free text.
INPUT_TYPE_THRESHOLDS: tuple[tuple[int, str], ...] = (
    (5, "checkbox"),
    (50, "multiple_options"),
    (5000, "autocomplete"),
)
INPUT_TYPES = (
    "checkbox",
    "multiple_options",
    "autocomplete",
    "free_text",
    "drill_down",
    "number",
    "calendar",
    "relative_date",
)


@dataclass(frozen=True)
class FieldInfo:
    """A catalog field: where it lives and what a UI shows."""

    key: str
    data_type: str
    storage: str = "column"  # column | attribute
    column: str | None = None
    label: str = ""
    enum_values: tuple[str, ...] = ()
    parent_key: str | None = None
    aggregable: bool = False
    visible: bool = True
    default_in_rules: bool = False
    input_type: str | None = None
    distinct_count: int | None = None


@dataclass(frozen=True)
class PropertyInfo:
    """A typed property of an event type (a key of event.properties)."""

    key: str
    data_type: str
    label: str = ""


@dataclass(frozen=True)
class EventTypeInfo:
    """A catalog event type."""

    id: int
    key: str
    category: str
    properties: dict[str, PropertyInfo] = field(default_factory=dict)
    label: str = ""
    value_label: str | None = None


@dataclass(frozen=True)
class Catalog:
    """Everything segmentation knows about one contact database."""

    database_id: int
    timezone: str
    fields: dict[str, FieldInfo]
    event_types: dict[str, EventTypeInfo]


async def load_catalog(database_id: int) -> Catalog:
    """Load a database's catalog (fields, event types, time zone) through the ORM."""
    database = await ContactDatabase.get(id=database_id)
    fields = await FieldModel.filter(database_id=database_id).order_by("position", "id")
    types = await EventType.filter(database_id=database_id).order_by("id")
    return Catalog(
        database_id=database_id,
        timezone=database.timezone,
        fields={f.key: field_info(f) for f in fields},
        event_types={t.key: event_type_info(t) for t in types},
    )


def field_info(f: FieldModel) -> FieldInfo:
    """A model row as a FieldInfo."""
    return FieldInfo(
        key=f.key,
        data_type=str(f.data_type.value if hasattr(f.data_type, "value") else f.data_type),
        storage=str(f.storage.value if hasattr(f.storage, "value") else f.storage),
        column=f.column,
        label=f.label,
        enum_values=tuple(f.enum_values or ()),
        parent_key=f.parent_key,
        aggregable=f.aggregable,
        visible=f.visible,
        default_in_rules=f.default_in_rules,
        input_type=f.input_type,
        distinct_count=f.distinct_count,
    )


def event_type_info(t: EventType) -> EventTypeInfo:
    """A model row as an EventTypeInfo."""
    props: list[dict[str, Any]] = t.properties or []
    return EventTypeInfo(
        id=t.id,
        key=t.key,
        category=str(t.category.value if hasattr(t.category, "value") else t.category),
        properties={
            p["key"]: PropertyInfo(p["key"], p["data_type"], p.get("label", p["key"]))
            for p in props
        },
        label=t.label,
        value_label=t.value_label,
    )


def input_type_for(
    f: FieldInfo,
    catalog_fields: Sequence[FieldInfo] = (),
    thresholds: Sequence[tuple[int, str]] = INPUT_TYPE_THRESHOLDS,
) -> str:
    """The UI input of a field: its override, else from its type, hierarchy and distinct count."""
    if f.input_type:
        return f.input_type
    if f.data_type == "boolean":
        return "checkbox"
    if f.data_type in ("integer", "decimal"):
        return "number"
    if f.data_type in ("date", "datetime"):
        return "calendar"
    if f.parent_key or any(other.parent_key == f.key for other in catalog_fields):
        return "drill_down"
    count = len(f.enum_values) if f.data_type == "enum" else f.distinct_count
    if count is None:
        return "multiple_options" if f.data_type == "enum" else "free_text"
    for limit, input_type in thresholds:
        if count <= limit:
            return input_type
    return "free_text"
