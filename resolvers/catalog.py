"""The field and event catalog of a database: read it, list a field's values, change settings.

Every lookup filters by the databases the caller may see in SQL; a catalog row of another
database is NOT_FOUND, exactly like one that does not exist.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from models import ContactDatabase, EventType, Field
from models.enums import EventCategory
from permissions.audit import record_audit
from permissions.errors import BadArgument, Forbidden, InputError, InvalidInput, NotFound
from permissions.names import Perm
from permissions.principal import Principal
from permissions.rules import can_see_database, database_q, may
from resolvers.context import RequestContext
from resolvers.outcome import transaction, with_outcome
from segmentation import (
    event_property_values,
    field_values,
    input_type_for,
    load_catalog,
    operators_for,
)
from segmentation.catalog import INPUT_TYPES, FieldInfo, field_info

MAX_LABEL = 200
MAX_VALUES = 1000
DEFAULT_VALUES = 50
MAX_SEARCH = 200
# Field settings an administrator may change, and how the audit trail names them.
SETTINGS = ("label", "visible", "default_in_rules", "aggregable", "input_type")


def visible_database(principal: Principal, database_id: int) -> None:
    """NOT_FOUND unless the principal may see the database (grants are preloaded)."""
    if not can_see_database(principal, database_id):
        raise NotFound("Database", database_id)


async def existing_database(principal: Principal, database_id: int) -> ContactDatabase:
    """The database row, if the principal may see it; NOT_FOUND otherwise."""
    visible_database(principal, database_id)
    database = await ContactDatabase.get_or_none(id=database_id)
    if database is None:
        raise NotFound("Database", database_id)
    return database


async def list_fields(
    principal: Principal, database_id: int, *, visible_only: bool = False
) -> list[Field]:
    """A database's catalog fields in display order."""
    await existing_database(principal, database_id)
    query = Field.filter(database_id=database_id)
    if visible_only:
        query = query.filter(visible=True)
    return list(await query.order_by("position", "id"))


async def get_field(principal: Principal, field_id: int) -> Field:
    """A catalog field of a database the principal sees; NOT_FOUND otherwise."""
    row = await Field.filter(database_q(principal), id=field_id).first()
    if row is None:
        raise NotFound("Field", field_id)
    return row


async def list_event_types(
    principal: Principal, database_id: int, category: EventCategory | None = None
) -> list[EventType]:
    """A database's event types, by category then label."""
    await existing_database(principal, database_id)
    query = EventType.filter(database_id=database_id)
    if category is not None:
        query = query.filter(category=category)
    return list(await query.order_by("category", "label", "id"))


async def get_event_type(principal: Principal, event_type_id: int) -> EventType:
    """An event type of a database the principal sees; NOT_FOUND otherwise."""
    row = await EventType.filter(database_q(principal), id=event_type_id).first()
    if row is None:
        raise NotFound("EventType", event_type_id)
    return row


def group_by_category(rows: list[EventType]) -> list[tuple[EventCategory, list[EventType]]]:
    """Event types grouped by category, categories in their declared order."""
    groups: dict[EventCategory, list[EventType]] = defaultdict(list)
    for row in rows:
        groups[EventCategory(row.category)].append(row)
    return [(c, groups[c]) for c in EventCategory if c in groups]


# ---- batch loaders (used through ctx.loader) ------------------------------------------------
async def fields_by_id(ids: list[int]) -> list[Field | None]:
    """Catalog fields by id (visibility is checked where the id came from)."""
    rows = {f.id: f for f in await Field.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def event_types_by_id(ids: list[int]) -> list[EventType | None]:
    """Event types by id (visibility is checked where the id came from)."""
    rows = {t.id: t for t in await EventType.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def parent_keys_by_database(database_ids: list[int]) -> list[frozenset[str]]:
    """Per database, the keys other fields drill down from (those fields are drill-downs)."""
    rows = await Field.filter(database_id__in=database_ids, parent_key__not_isnull=True).values(
        "database_id", "parent_key"
    )
    keys: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        keys[row["database_id"]].add(row["parent_key"])
    return [frozenset(keys.get(i, ())) for i in database_ids]


def input_type_of(row: Field, parent_keys: frozenset[str]) -> str:
    """The UI input type of a field, given the keys other fields of its database drill down
    from (a field others drill down from is a drill-down too)."""
    children = [FieldInfo(key="", data_type="string", parent_key=k) for k in parent_keys]
    return input_type_for(field_info(row), children)


def operators_of(data_type: str) -> list[str]:
    """Operator names a condition on values of this data type may use."""
    return operators_for(data_type)


# ---- values -------------------------------------------------------------------------------
def _limit(first: int | None) -> int:
    if first is None:
        return DEFAULT_VALUES
    if not 1 <= first <= MAX_VALUES:
        raise BadArgument(f"first must be between 1 and {MAX_VALUES}.")
    return first


def _search(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_SEARCH:
        raise BadArgument(f"search must have at most {MAX_SEARCH} characters.")
    if text is not None and "\x00" in text:
        raise BadArgument("search must not contain NUL characters.")
    return text or None


def json_value(value: Any) -> Any:
    """A database value as JSON (dates as ISO text, decimals as numbers)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


async def values_of_field(
    principal: Principal,
    field_id: int,
    *,
    search: str | None,
    parent_value: str | None,
    first: int | None,
) -> list[tuple[Any, int]]:
    """(value, contacts) of a field, most frequent first; personal-data fields need
    personal_data.read, a parent value needs a drill-down field."""
    row = await get_field(principal, field_id)
    if row.pii and not may(principal, Perm.PERSONAL_DATA_READ):
        raise Forbidden(f"Your profile lacks the permission {Perm.PERSONAL_DATA_READ.value!r}.")
    if parent_value is not None and "\x00" in parent_value:
        raise BadArgument("parentValue must not contain NUL characters.")
    if parent_value is not None and not row.parent_key:
        raise BadArgument(f"Field {row.key!r} has no parent field: parentValue does not apply.")
    catalog = await load_catalog(row.database_id)  # type: ignore[attr-defined]
    found = await field_values(
        catalog,
        row.key,
        search=_search(search),
        parent_value=parent_value,
        limit=_limit(first),
    )
    return [(json_value(v.value), v.count) for v in found]


async def values_of_property(
    principal: Principal,
    event_type_id: int,
    property_key: str,
    *,
    search: str | None,
    first: int | None,
) -> list[tuple[Any, int]]:
    """(value, events) of an event type's property, most frequent first."""
    row = await get_event_type(principal, event_type_id)
    if property_key not in {p["key"] for p in row.properties or []}:
        raise BadArgument(f"Event type {row.key!r} has no property {property_key!r}.")
    catalog = await load_catalog(row.database_id)  # type: ignore[attr-defined]
    found = await event_property_values(
        catalog, row.key, property_key, search=_search(search), limit=_limit(first)
    )
    return [(json_value(v.value), v.count) for v in found]


# ---- field settings -----------------------------------------------------------------------
def _setting_errors(changes: dict[str, Any]) -> list[InputError]:
    errors = []
    if "label" in changes:
        label = changes["label"]
        if label is None or not label.strip() or len(label.strip()) > MAX_LABEL:
            errors.append(
                InputError(("label",), f"Label must have 1-{MAX_LABEL} characters.", "INVALID")
            )
        elif "\x00" in label:
            errors.append(InputError(("label",), "Label must not contain NUL.", "INVALID"))
    for flag, name in (
        ("visible", "visible"),
        ("default_in_rules", "defaultInRules"),
        ("aggregable", "aggregable"),
    ):
        if flag in changes and changes[flag] is None:
            errors.append(InputError((name,), "Must be true or false.", "REQUIRED"))
    if changes.get("input_type") is not None and changes["input_type"] not in INPUT_TYPES:
        errors.append(InputError(("inputType",), "Unknown input type.", "INVALID"))
    return errors


def _settings_of(row: Field) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SETTINGS}


@with_outcome
async def update_field(
    ctx: RequestContext, principal: Principal, field_id: int, changes: dict[str, Any]
) -> Field:
    """Change a field's settings (only keys in SETTINGS); audited with before and after."""
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise ValueError(f"not field settings: {sorted(unknown)}")
    row = await get_field(principal, field_id)
    errors = _setting_errors(changes)
    if errors:
        raise InvalidInput(errors)
    if "label" in changes:
        changes["label"] = changes["label"].strip()
    if not changes:
        return row
    async with transaction(on_conflict=InputError((), "The field changed meanwhile.", "CONFLICT")):
        row = await Field.select_for_update().get(id=row.id)
        before = _settings_of(row)
        for name, value in changes.items():
            setattr(row, name, value)
        await row.save(update_fields=list(changes))
        await record_audit(
            principal,
            "update",
            "field",
            row.id,
            database_id=row.database_id,  # type: ignore[attr-defined]
            before=before,
            after=_settings_of(row),
            request_id=ctx.request_id,
        )
    return row
