"""The audit trail: who changed what, when, before and after."""

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    """One change to a segment, plan, policy, setting, user, profile or key."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    user = fields.ForeignKeyField(
        "models.User", related_name="audit_entries", null=True, on_delete=fields.SET_NULL
    )
    api_key = fields.ForeignKeyField(
        "models.ApiKey", related_name="audit_entries", null=True, on_delete=fields.SET_NULL
    )
    actor = fields.CharField(max_length=200)  # readable name kept even if the user is gone
    action = fields.CharField(max_length=64)  # create | update | delete | login | ...
    object_type = fields.CharField(max_length=64)
    object_id = fields.CharField(max_length=64, null=True)
    database_id = fields.IntField(null=True)
    before = fields.JSONField(null=True)
    after = fields.JSONField(null=True)
    request_id = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "audit_entry"
