"""The standard catalog every new contact database starts with: contact columns and event types."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from models.catalog import ContactDatabase, EventType, Field
from models.enums import DataType, EventCategory, FieldKind, FieldStorage

S, B = DataType.STRING, DataType.BOOLEAN
DATE, DT, ENUM = DataType.DATE, DataType.DATETIME, DataType.ENUM

# (key, label, data type, pii, extra)
STANDARD_FIELDS: list[tuple[str, str, DataType, bool, dict[str, Any]]] = [
    ("external_id", "External id", S, False, {}),
    ("email", "Email", S, True, {}),
    ("phone", "Phone", S, True, {}),
    ("push_token", "Push token", S, True, {"visible": False}),
    ("first_name", "First name", S, True, {}),
    ("last_name", "Last name", S, True, {}),
    ("gender", "Gender", ENUM, False, {"enum_values": ["F", "M", "X"], "default_in_rules": True}),
    ("birth_date", "Birth date", DATE, True, {"default_in_rules": True}),
    ("country", "Country", S, False, {"default_in_rules": True}),
    ("region", "Region", S, False, {"parent_key": "country"}),
    ("city", "City", S, False, {"parent_key": "region"}),
    ("language", "Language", S, False, {}),
    ("consent_email", "Email consent", B, False, {}),
    ("consent_sms", "SMS consent", B, False, {}),
    ("consent_push", "Push consent", B, False, {}),
    ("created_at", "Created", DT, False, {}),
    ("updated_at", "Updated", DT, False, {}),
]

_MESSAGE_PROPS = [
    {"key": "delivery_id", "label": "Delivery id", "data_type": "string"},
    {"key": "subject", "label": "Subject", "data_type": "string"},
]
_LINK_PROPS = [
    *_MESSAGE_PROPS,
    {"key": "link_category", "label": "Link category", "data_type": "string"},
    {"key": "url", "label": "Link", "data_type": "string"},
]
_PRODUCT_PROPS = [
    {"key": "product", "label": "Product", "data_type": "string"},
    {"key": "category", "label": "Category", "data_type": "string"},
]

# (key, label, category, properties, value label)
STANDARD_EVENT_TYPES: list[tuple[str, str, EventCategory, list[dict[str, str]], str | None]] = [
    ("email_sent", "Email sent", EventCategory.MESSAGE, _MESSAGE_PROPS, None),
    ("email_delivered", "Email delivered", EventCategory.MESSAGE, _MESSAGE_PROPS, None),
    ("email_opened", "Email opened", EventCategory.MESSAGE, _MESSAGE_PROPS, None),
    ("email_clicked", "Email clicked", EventCategory.MESSAGE, _LINK_PROPS, None),
    ("email_bounced", "Email bounced", EventCategory.MESSAGE, _MESSAGE_PROPS, None),
    ("sms_sent", "SMS sent", EventCategory.MESSAGE, _MESSAGE_PROPS, None),
    ("sms_delivered", "SMS delivered", EventCategory.MESSAGE, _MESSAGE_PROPS, None),
    ("push_sent", "Push sent", EventCategory.MESSAGE, _MESSAGE_PROPS, None),
    ("push_opened", "Push opened", EventCategory.MESSAGE, _MESSAGE_PROPS, None),
    (
        "purchase",
        "Purchase (order)",
        EventCategory.PURCHASE,
        [
            {"key": "order_id", "label": "Order id", "data_type": "string"},
            {"key": "store", "label": "Store", "data_type": "string"},
            {"key": "channel", "label": "Sales channel", "data_type": "string"},
            {"key": "items", "label": "Items", "data_type": "integer"},
        ],
        "Order amount",
    ),
    (
        "purchase_line",
        "Order line",
        EventCategory.PURCHASE,
        [
            {"key": "order_id", "label": "Order id", "data_type": "string"},
            *_PRODUCT_PROPS,
            {"key": "quantity", "label": "Quantity", "data_type": "integer"},
            {"key": "price", "label": "Unit price", "data_type": "decimal"},
        ],
        "Line amount",
    ),
    ("cart_added", "Added to cart", EventCategory.ECOMMERCE, _PRODUCT_PROPS, "Price"),
    ("cart_abandoned", "Abandoned cart", EventCategory.ECOMMERCE, [], "Cart value"),
    ("wishlist_added", "Added to wishlist", EventCategory.ECOMMERCE, _PRODUCT_PROPS, None),
    ("product_viewed", "Viewed product", EventCategory.ECOMMERCE, _PRODUCT_PROPS, None),
    ("category_viewed", "Viewed category", EventCategory.ECOMMERCE, _PRODUCT_PROPS[1:], None),
    (
        "product_reviewed",
        "Reviewed product",
        EventCategory.ECOMMERCE,
        [*_PRODUCT_PROPS, {"key": "rating", "label": "Rating", "data_type": "integer"}],
        None,
    ),
    (
        "page_visited",
        "Visited page",
        EventCategory.WEB,
        [
            {"key": "url", "label": "URL", "data_type": "string"},
            {"key": "page_category", "label": "Page category", "data_type": "string"},
            {"key": "referrer", "label": "Referrer", "data_type": "string"},
        ],
        None,
    ),
]


async def create_contact_database(
    name: str, *, timezone: str = "UTC", description: str = ""
) -> ContactDatabase:
    """Create a contact database with the standard catalog, in one transaction."""
    async with in_transaction():
        database = await ContactDatabase.create(
            name=name, timezone=timezone, description=description
        )
        await Field.bulk_create(
            [
                Field(
                    database=database,
                    key=key,
                    label=label,
                    data_type=data_type,
                    storage=FieldStorage.COLUMN,
                    column=key,
                    kind=FieldKind.DEMOGRAPHIC,
                    pii=pii,
                    position=i,
                    **extra,
                )
                for i, (key, label, data_type, pii, extra) in enumerate(STANDARD_FIELDS)
            ]
        )
        await EventType.bulk_create(
            [
                EventType(
                    database=database,
                    key=key,
                    label=label,
                    category=category,
                    properties=props,
                    value_label=value_label,
                )
                for key, label, category, props, value_label in STANDARD_EVENT_TYPES
            ]
        )
    return database
