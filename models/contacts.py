"""Contacts and their events: typed columns where segment SQL filters most."""

from tortoise import fields
from tortoise.models import Model

from models.fast_rows import FastRows

# Standard contact columns the catalog may point at (storage=column).
CONTACT_COLUMNS = (
    "external_id",
    "email",
    "phone",
    "push_token",
    "first_name",
    "last_name",
    "gender",
    "birth_date",
    "city",
    "region",
    "country",
    "language",
    "consent_email",
    "consent_sms",
    "consent_push",
    "created_at",
    "updated_at",
)

# Event properties kept also in a typed column of `event`, generated from `properties` by
# migration 0003 (not a Tortoise field: PostgreSQL computes it; never written by code).
# The column holds the property when it is a JSON string, else NULL: exactly what the
# segment SQL would read from the JSONB, so a condition may use either. Covered by the
# index event_type_contact, it makes per-contact shares of a category index-only.
EVENT_STRING_COLUMNS = {"category": "category"}


class Contact(Model):
    """A person in one contact database."""

    id = fields.BigIntField(primary_key=True)
    database = fields.ForeignKeyField(
        "models.ContactDatabase", related_name="contacts", on_delete=fields.CASCADE
    )
    external_id = fields.CharField(max_length=128)
    email = fields.CharField(max_length=320, null=True)
    phone = fields.CharField(max_length=32, null=True)
    push_token = fields.CharField(max_length=255, null=True)
    first_name = fields.CharField(max_length=100, null=True)
    last_name = fields.CharField(max_length=100, null=True)
    gender = fields.CharField(max_length=16, null=True)
    birth_date = fields.DateField(null=True)
    city = fields.CharField(max_length=100, null=True)
    region = fields.CharField(max_length=100, null=True)
    country = fields.CharField(max_length=2, null=True)
    language = fields.CharField(max_length=8, null=True)
    consent_email = fields.BooleanField(default=False)
    consent_sms = fields.BooleanField(default=False)
    consent_push = fields.BooleanField(default=False)
    attributes = fields.JSONField(default=dict)  # typed by the catalog (storage=attribute)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contact"
        unique_together = (("database", "external_id"),)


class Event(FastRows, Model):
    """Something a contact did or received, at a time, with a numeric value and properties."""

    id = fields.BigIntField(primary_key=True)
    database = fields.ForeignKeyField(
        "models.ContactDatabase",
        related_name="events",
        on_delete=fields.CASCADE,
        db_constraint=True,
    )
    contact = fields.ForeignKeyField(
        "models.Contact", related_name="events", on_delete=fields.CASCADE
    )
    event_type = fields.ForeignKeyField(
        "models.EventType", related_name="events", on_delete=fields.RESTRICT
    )
    external_id = fields.CharField(max_length=128, null=True)  # partner's event id (idempotency)
    occurred_at = fields.DatetimeField()
    value = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    properties = fields.JSONField(default=dict)

    class Meta:
        table = "event"
