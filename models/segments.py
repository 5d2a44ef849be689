"""Segments, saved rules (presets and favourites) and segment size history."""

from tortoise import fields
from tortoise.models import Model

from models.fast_rows import FastRows


class Segment(FastRows, Model):
    """A named condition tree over one contact database."""

    id = fields.IntField(primary_key=True)
    database = fields.ForeignKeyField(
        "models.ContactDatabase", related_name="segments", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    folder = fields.CharField(max_length=200, default="")
    tags = fields.JSONField(default=list)
    author = fields.ForeignKeyField(
        "models.User", related_name="segments", on_delete=fields.RESTRICT
    )
    definition = fields.JSONField()
    version = fields.IntField(default=1)  # optimistic concurrency
    last_count = fields.BigIntField(null=True)
    counted_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    deleted_at = fields.DatetimeField(null=True)  # soft delete: plans keep working

    class Meta:
        table = "segment"


class SavedRule(Model):
    """A rule kept for reuse: a preset shared in the database or a user's favourite."""

    id = fields.IntField(primary_key=True)
    database = fields.ForeignKeyField(
        "models.ContactDatabase", related_name="saved_rules", on_delete=fields.CASCADE
    )
    author = fields.ForeignKeyField(
        "models.User", related_name="saved_rules", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    kind = fields.CharField(max_length=16, default="favourite")  # preset | favourite
    definition = fields.JSONField()
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "saved_rule"


class SegmentCountSnapshot(Model):
    """A segment's count on a day (size over time)."""

    id = fields.BigIntField(primary_key=True)
    segment = fields.ForeignKeyField(
        "models.Segment", related_name="snapshots", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    count = fields.BigIntField()
    taken_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "segment_count_snapshot"
        unique_together = (("segment", "day"),)
