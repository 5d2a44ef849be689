"""Contact databases and their catalog: fields and event types."""

from tortoise import fields
from tortoise.models import Model

from models.enums import DataType, EventCategory, FieldKind, FieldStorage


class ContactDatabase(Model):
    """A contact database: the set of contacts a segment is applied to."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    description = fields.TextField(default="")
    timezone = fields.CharField(max_length=64, default="UTC")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contact_database"


class Field(Model):
    """A catalog field: what a condition may test on a contact."""

    id = fields.IntField(primary_key=True)
    database = fields.ForeignKeyField(
        "models.ContactDatabase", related_name="fields", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=64)
    label = fields.CharField(max_length=200)
    data_type = fields.CharEnumField(DataType, max_length=16)
    storage = fields.CharEnumField(FieldStorage, max_length=16)
    column = fields.CharField(max_length=64, null=True)  # contact column when storage=column
    kind = fields.CharEnumField(FieldKind, max_length=16, default=FieldKind.DEMOGRAPHIC)
    pii = fields.BooleanField(default=False)
    visible = fields.BooleanField(default=True)
    default_in_rules = fields.BooleanField(default=False)
    aggregable = fields.BooleanField(default=False)
    enum_values = fields.JSONField(default=list)  # allowed values of an enum field
    parent_key = fields.CharField(max_length=64, null=True)  # drill-down: e.g. city -> country
    input_type = fields.CharField(max_length=32, null=True)  # UI override; else from distinct count
    distinct_count = fields.IntField(null=True)  # refreshed by catalog statistics
    position = fields.IntField(default=0)

    class Meta:
        table = "catalog_field"
        unique_together = (("database", "key"),)


class EventType(Model):
    """A catalog event type (purchase, email_open, viewed_product...) with typed properties."""

    id = fields.IntField(primary_key=True)
    database = fields.ForeignKeyField(
        "models.ContactDatabase", related_name="event_types", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=64)
    label = fields.CharField(max_length=200)
    category = fields.CharEnumField(EventCategory, max_length=16)
    # [{"key": "amount", "label": "Amount", "data_type": "decimal"}, ...]
    properties = fields.JSONField(default=list)
    value_label = fields.CharField(max_length=64, null=True)  # meaning of event.value, if any

    class Meta:
        table = "catalog_event_type"
        unique_together = (("database", "key"),)
