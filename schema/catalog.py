"""The catalog of a contact database: fields, event types, their values, field settings."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from models import EventType as EventTypeModel
from models import Field as FieldModel
from models.enums import EventCategory as EventCategoryModel
from permissions.classes import principal_of, requires
from permissions.errors import Forbidden
from permissions.names import Perm
from permissions.rules import database_q, may
from resolvers import catalog as resolve
from schema.base import Info, UserError, user_errors
from schema.relay import GlobalID, Node, NodeID, global_id, int_ids, node_pk


@strawberry.enum(description="The type of a field's or an event property's values.")
class FieldDataType(Enum):
    STRING = strawberry.enum_value("string", description="Text.")
    INTEGER = strawberry.enum_value("integer", description="Whole number.")
    DECIMAL = strawberry.enum_value("decimal", description="Number with decimals.")
    BOOLEAN = strawberry.enum_value("boolean", description="true or false.")
    DATE = strawberry.enum_value("date", description="Calendar day, YYYY-MM-DD.")
    DATETIME = strawberry.enum_value("datetime", description="Instant, ISO 8601 with offset.")
    ENUM = strawberry.enum_value("enum", description="One of the field's enumValues.")
    STRING_LIST = strawberry.enum_value("string_list", description="A list of texts.")


@strawberry.enum(description="Where a field's value is stored on a contact.")
class FieldStorage(Enum):
    COLUMN = strawberry.enum_value("column", description="A standard contact column.")
    ATTRIBUTE = strawberry.enum_value(
        "attribute", description="A key of the contact's attributes (input `attributes`)."
    )


@strawberry.enum(description="Whether a field describes who a contact is or what it does.")
class FieldKind(Enum):
    DEMOGRAPHIC = strawberry.enum_value("demographic", description="Who the contact is.")
    BEHAVIORAL = strawberry.enum_value("behavioral", description="What the contact did.")


@strawberry.enum(description="The UI control a rule editor shows to pick a field's values.")
class FieldInputType(Enum):
    CHECKBOX = strawberry.enum_value("checkbox", description="Check boxes (few values).")
    MULTIPLE_OPTIONS = strawberry.enum_value("multiple_options", description="A multi-select.")
    AUTOCOMPLETE = strawberry.enum_value(
        "autocomplete", description="Type to search the values (fieldValues with search)."
    )
    FREE_TEXT = strawberry.enum_value("free_text", description="A text box.")
    DRILL_DOWN = strawberry.enum_value(
        "drill_down", description="Hierarchical pick (country, region, city) with parentValue."
    )
    NUMBER = strawberry.enum_value("number", description="A number box.")
    CALENDAR = strawberry.enum_value("calendar", description="A date picker.")
    RELATIVE_DATE = strawberry.enum_value(
        "relative_date", description="A date relative to the evaluation time (N days ago)."
    )


@strawberry.enum(description="The group an event type belongs to.")
class EventCategory(Enum):
    MESSAGE = strawberry.enum_value(
        "message", description="Digital messages: sent, delivered, opened, clicked, bounced."
    )
    PURCHASE = strawberry.enum_value("purchase", description="Orders and order lines.")
    ECOMMERCE = strawberry.enum_value(
        "ecommerce", description="Cart, wishlist, product views, reviews."
    )
    WEB = strawberry.enum_value("web", description="Browsing.")
    OTHER = strawberry.enum_value("other", description="Anything else.")


CATEGORY_LABELS = {
    "message": "Messages",
    "purchase": "Purchases",
    "ecommerce": "E-commerce",
    "web": "Web",
    "other": "Other",
}


def _value(enum_or_text: Any) -> str:
    return str(getattr(enum_or_text, "value", enum_or_text))


def _require_catalog_read(info: Info) -> None:
    if not may(principal_of(info), Perm.CATALOG_READ):
        raise Forbidden(f"Your profile lacks the permission {Perm.CATALOG_READ.value!r}.")


@strawberry.type(description="A catalog field: what a segment condition may test on a contact.")
class Field(Node):
    id: NodeID[int]
    key: str = strawberry.field(
        description="Stable key, used in segment definitions and in ContactInput.attributes."
    )
    label: str = strawberry.field(description="Name shown to people.")
    data_type: FieldDataType = strawberry.field(description="Type of its values.")
    storage: FieldStorage = strawberry.field(description="Contact column or attribute.")
    kind: FieldKind = strawberry.field(description="Demographic or behavioral.")
    personal_data: bool = strawberry.field(
        description="Personal data (PII): its values need personal_data.read."
    )
    visible: bool = strawberry.field(description="Shown in rule editors.")
    default_in_rules: bool = strawberry.field(
        description="Offered by default when a new rule is built."
    )
    aggregable: bool = strawberry.field(description="May be grouped by in dashboards.")
    enum_values: list[str] = strawberry.field(description="Allowed values of an ENUM field.")
    parent_key: str | None = strawberry.field(
        description="Key of the field this one drills down from (city -> region), if any."
    )
    input_type_override: FieldInputType | None = strawberry.field(
        description="The input type set by an administrator; null: chosen automatically."
    )
    distinct_count: int | None = strawberry.field(
        description="How many distinct values the field had when last counted."
    )
    position: int = strawberry.field(description="Display order in the catalog.")
    database_pk: strawberry.Private[int]
    row: strawberry.Private[FieldModel]

    @strawberry.field(description="Global id of the field's database.")
    def database_id(self) -> GlobalID:
        return global_id("Database", self.database_pk)

    @strawberry.field(description="Operator names a condition on this field may use.")
    def operators(self) -> list[str]:
        return resolve.operators_of(self.data_type.value)

    @strawberry.field(
        description="The UI control to pick values: the override, else from the data type, "
        "the drill-down hierarchy and the distinct count."
    )
    async def input_type(self, info: Info) -> FieldInputType:
        parents = await info.context.loader(
            "catalog_parent_keys", resolve.parent_keys_by_database
        ).load(self.database_pk)
        return FieldInputType(resolve.input_type_of(self.row, parents))

    @classmethod
    def from_model(cls, row: FieldModel) -> Field:
        """The GraphQL form of a catalog_field row."""
        return cls(
            id=row.id,
            key=row.key,
            label=row.label,
            data_type=FieldDataType(_value(row.data_type)),
            storage=FieldStorage(_value(row.storage)),
            kind=FieldKind(_value(row.kind)),
            personal_data=row.pii,
            visible=row.visible,
            default_in_rules=row.default_in_rules,
            aggregable=row.aggregable,
            enum_values=[str(v) for v in row.enum_values or []],
            parent_key=row.parent_key,
            input_type_override=FieldInputType(row.input_type) if row.input_type else None,
            distinct_count=row.distinct_count,
            position=row.position,
            database_pk=row.database_id,  # type: ignore[attr-defined]
            row=row,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Field | None]:
        _require_catalog_read(info)
        ids = int_ids(node_ids)
        rows = {
            r.id: r
            for r in await FieldModel.filter(
                database_q(principal_of(info)), id__in=[i for i in ids if i is not None]
            )
        }
        return [cls.from_model(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="A typed property of an event type (a key of Event.properties).")
class EventProperty:
    key: str = strawberry.field(description="Key in Event.properties and EventInput.properties.")
    label: str = strawberry.field(description="Name shown to people.")
    data_type: FieldDataType = strawberry.field(description="Type of its values.")

    @strawberry.field(description="Operator names a condition on this property may use.")
    def operators(self) -> list[str]:
        return resolve.operators_of(self.data_type.value)


@strawberry.type(description="A kind of event contacts do or receive (purchase, email_opened...).")
class EventType(Node):
    id: NodeID[int]
    key: str = strawberry.field(description="Stable key, used in definitions and EventInput.type.")
    label: str = strawberry.field(description="Name shown to people.")
    category: EventCategory = strawberry.field(description="The group it belongs to.")
    value_label: str | None = strawberry.field(
        description="What an event's numeric `value` means (Order amount), null if unused."
    )
    properties: list[EventProperty] = strawberry.field(description="Its typed properties.")
    database_pk: strawberry.Private[int]

    @strawberry.field(description="Global id of the event type's database.")
    def database_id(self) -> GlobalID:
        return global_id("Database", self.database_pk)

    @classmethod
    def from_model(cls, row: EventTypeModel) -> EventType:
        """The GraphQL form of a catalog_event_type row."""
        return cls(
            id=row.id,
            key=row.key,
            label=row.label,
            category=EventCategory(_value(row.category)),
            value_label=row.value_label,
            properties=[
                EventProperty(
                    key=p["key"],
                    label=p.get("label") or p["key"],
                    data_type=FieldDataType(p["data_type"]),
                )
                for p in row.properties or []
            ],
            database_pk=row.database_id,  # type: ignore[attr-defined]
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[EventType | None]:
        _require_catalog_read(info)
        ids = int_ids(node_ids)
        rows = {
            r.id: r
            for r in await EventTypeModel.filter(
                database_q(principal_of(info)), id__in=[i for i in ids if i is not None]
            )
        }
        return [cls.from_model(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="The event types of one category.")
class EventCategoryGroup:
    category: EventCategory = strawberry.field(description="The category.")
    label: str = strawberry.field(description="Name of the category shown to people.")
    event_types: list[EventType] = strawberry.field(description="Its event types, by label.")


@strawberry.type(description="A value a field or event property takes, and how often.")
class ValueCount:
    value: JSON = strawberry.field(
        description="The value (text, number, boolean; dates as ISO text)."
    )
    count: int = strawberry.field(
        description="How many contacts (for a field) or events (for a property) have it."
    )


@strawberry.input(
    description="New settings of a catalog field; omitted settings are left unchanged."
)
class UpdateFieldInput:
    id: GlobalID = strawberry.field(description="The field's global id.")
    label: str | None = strawberry.field(
        default=strawberry.UNSET, description="Name shown to people, 1-200 characters."
    )
    visible: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Shown in rule editors."
    )
    default_in_rules: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Offered by default when a new rule is built."
    )
    aggregable: bool | None = strawberry.field(
        default=strawberry.UNSET, description="May be grouped by in dashboards."
    )
    input_type: FieldInputType | None = strawberry.field(
        default=strawberry.UNSET,
        description="UI control override; null goes back to the automatic choice.",
    )


@strawberry.type(description="Result of updateField.")
class UpdateFieldPayload:
    field: Field | None = strawberry.field(description="The field as it is now, if updated.")
    user_errors: list[UserError] = strawberry.field(description="Input mistakes; empty on success.")


def _database_pk(value: GlobalID) -> int:
    return node_pk(value, "Database")


@strawberry.type(description="Catalog root queries.")
class CatalogQuery:
    @strawberry.field(
        description="The catalog fields of a database, in display order. Requires catalog.read.",
        extensions=requires(Perm.CATALOG_READ),
    )
    async def fields(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="Database global id.")],
        visible_only: Annotated[
            bool, strawberry.argument(description="Only fields shown in rule editors.")
        ] = False,
    ) -> list[Field] | None:
        rows = await resolve.list_fields(
            principal_of(info), _database_pk(database_id), visible_only=visible_only
        )
        return [Field.from_model(r) for r in rows]

    @strawberry.field(
        description="The event types of a database, by category and label. Requires catalog.read.",
        extensions=requires(Perm.CATALOG_READ),
    )
    async def event_types(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="Database global id.")],
        category: Annotated[
            EventCategory | None, strawberry.argument(description="Only this category.")
        ] = None,
    ) -> list[EventType] | None:
        rows = await resolve.list_event_types(
            principal_of(info),
            _database_pk(database_id),
            None if category is None else EventCategoryModel(category.value),
        )
        return [EventType.from_model(r) for r in rows]

    @strawberry.field(
        description="The event categories of a database that have event types, each with "
        "its event types. Requires catalog.read.",
        extensions=requires(Perm.CATALOG_READ),
    )
    async def event_categories(
        self,
        info: Info,
        database_id: Annotated[GlobalID, strawberry.argument(description="Database global id.")],
    ) -> list[EventCategoryGroup] | None:
        rows = await resolve.list_event_types(principal_of(info), _database_pk(database_id))
        return [
            EventCategoryGroup(
                category=EventCategory(category.value),
                label=CATEGORY_LABELS[category.value],
                event_types=[EventType.from_model(r) for r in types],
            )
            for category, types in resolve.group_by_category(rows)
        ]

    @strawberry.field(
        description="The most frequent values of a field among the database's contacts, "
        "for pickers and drill-downs. Personal-data fields also need personal_data.read. "
        "Requires catalog.read.",
        extensions=requires(Perm.CATALOG_READ),
    )
    async def field_values(
        self,
        info: Info,
        field_id: Annotated[GlobalID, strawberry.argument(description="Field global id.")],
        search: Annotated[
            str | None,
            strawberry.argument(description="Only values containing this text (any case)."),
        ] = None,
        parent_value: Annotated[
            str | None,
            strawberry.argument(
                description="Drill-down: only contacts whose parent field (parentKey) has "
                "this value, e.g. the regions of country IT."
            ),
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="How many values, 1-1000 (default 50).")
        ] = None,
    ) -> list[ValueCount] | None:
        found = await resolve.values_of_field(
            principal_of(info),
            node_pk(field_id, "Field"),
            search=search,
            parent_value=parent_value,
            first=first,
        )
        return [ValueCount(value=v, count=n) for v, n in found]

    @strawberry.field(
        description="The most frequent values of an event type's property among its "
        "events (link categories, products...). Requires catalog.read.",
        extensions=requires(Perm.CATALOG_READ),
    )
    async def event_property_values(
        self,
        info: Info,
        event_type_id: Annotated[
            GlobalID, strawberry.argument(description="Event type global id.")
        ],
        property: Annotated[str, strawberry.argument(description="The property key.")],
        search: Annotated[
            str | None,
            strawberry.argument(description="Only values containing this text (any case)."),
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="How many values, 1-1000 (default 50).")
        ] = None,
    ) -> list[ValueCount] | None:
        found = await resolve.values_of_property(
            principal_of(info),
            node_pk(event_type_id, "EventType"),
            property,
            search=search,
            first=first,
        )
        return [ValueCount(value=v, count=n) for v, n in found]


def _changes(input: UpdateFieldInput) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("label", "visible", "default_in_rules", "aggregable"):
        value = getattr(input, name)
        if value is not strawberry.UNSET:
            changes[name] = value
    if input.input_type is not strawberry.UNSET:
        changes["input_type"] = None if input.input_type is None else input.input_type.value
    return changes


@strawberry.type(description="Catalog root mutations.")
class CatalogMutation:
    @strawberry.mutation(
        description="Change a field's settings (label, visibility, default, aggregable, input "
        "type). Audited. Requires catalog.manage.",
        extensions=requires(Perm.CATALOG_MANAGE),
    )
    async def update_field(
        self,
        info: Info,
        input: Annotated[UpdateFieldInput, strawberry.argument(description="The new settings.")],
    ) -> UpdateFieldPayload | None:
        outcome = await resolve.update_field(
            info.context, principal_of(info), node_pk(input.id, "Field"), _changes(input)
        )
        return UpdateFieldPayload(
            field=Field.from_model(outcome.value) if outcome.value else None,
            user_errors=user_errors(outcome.errors),
        )
