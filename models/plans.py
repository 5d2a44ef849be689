"""Plans, their runs, recipients, delivery batches and DND (contact-pressure) policies."""

from tortoise import fields
from tortoise.models import Model

from models.enums import Channel, PlanState, RecipientStatus, RunState, RunTrigger


class DndPolicy(Model):
    """Contact-pressure limits: rules such as at most N messages per week."""

    id = fields.IntField(primary_key=True)
    database = fields.ForeignKeyField(  # null: global across all databases
        "models.ContactDatabase", related_name="dnd_policies", null=True, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    rules = fields.JSONField(default=list)  # [{"max": 2, "period": "week"}, ...]
    is_default = fields.BooleanField(default=False)
    author = fields.ForeignKeyField(
        "models.User", related_name="dnd_policies", on_delete=fields.RESTRICT
    )
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "dnd_policy"


class Plan(Model):
    """When and how an action is carried out on a segment."""

    id = fields.IntField(primary_key=True)
    database = fields.ForeignKeyField(
        "models.ContactDatabase", related_name="plans", on_delete=fields.CASCADE
    )
    segment = fields.ForeignKeyField(  # segments are soft-deleted, so this stays valid
        "models.Segment", related_name="plans", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    author = fields.ForeignKeyField("models.User", related_name="plans", on_delete=fields.RESTRICT)
    state = fields.CharEnumField(PlanState, max_length=16, default=PlanState.DRAFT)
    schedule = fields.JSONField()  # once / daily / weekly / monthly with time zone and end rule
    next_run_at = fields.DatetimeField(null=True)  # the only instance of a recurrence that exists
    runs_done = fields.IntField(default=0)
    dnd_policy = fields.ForeignKeyField(
        "models.DndPolicy", related_name="plans", null=True, on_delete=fields.SET_NULL
    )
    options = fields.JSONField(default=dict)  # list generation, contacts number, control group...
    consumers = fields.JSONField(default=list)  # deliveries, CSV export, webhooks
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "plan"


class PlanRun(Model):
    """One execution of a plan: unique per (plan, scheduled time)."""

    id = fields.BigIntField(primary_key=True)
    plan = fields.ForeignKeyField("models.Plan", related_name="runs", on_delete=fields.CASCADE)
    trigger = fields.CharEnumField(RunTrigger, max_length=16)
    scheduled_for = fields.DatetimeField()
    as_of = fields.DatetimeField()  # relative dates of the segment resolve against it
    state = fields.CharEnumField(RunState, max_length=16, default=RunState.PENDING)
    segment_definition = fields.JSONField(null=True)  # the definition the run evaluated
    segment_count = fields.BigIntField(null=True)
    funnel = fields.JSONField(default=dict)  # excluded per reason, control, recipients
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    listed_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)  # lets the tick pick up lost runs

    class Meta:
        table = "plan_run"
        unique_together = (("plan", "scheduled_for"),)


class RunConsumer(Model):
    """What one consumer (a delivery, an export, a webhook) did within a run."""

    id = fields.BigIntField(primary_key=True)
    run = fields.ForeignKeyField(
        "models.PlanRun", related_name="consumers", on_delete=fields.CASCADE
    )
    position = fields.IntField()  # index in plan.consumers
    kind = fields.CharField(max_length=16)  # delivery | export | webhook
    channel = fields.CharEnumField(Channel, max_length=8, null=True)
    platform_delivery_id = fields.CharField(max_length=128, null=True)
    status = fields.CharField(max_length=32, default="pending")
    stats = fields.JSONField(default=dict)  # sent, delivered, bounced, opens, clicks...
    error = fields.TextField(null=True)

    class Meta:
        table = "run_consumer"
        unique_together = (("run", "position"),)


class Recipient(Model):
    """A contact in a run's list: at most once per run and delivery (`delivery_no`)."""

    id = fields.BigIntField(primary_key=True)
    # No constraint in the database (0004_delivery): a trigger deletes recipients with their run.
    run = fields.ForeignKeyField(
        "models.PlanRun", related_name="recipients", on_delete=fields.CASCADE
    )
    contact_id = fields.BigIntField()  # no FK: a report outlives a deleted contact
    address = fields.CharField(max_length=320, null=True)
    status = fields.CharEnumField(RecipientStatus, max_length=16)
    exclusion_reason = fields.CharField(max_length=32, null=True)
    batch_no = fields.IntField(null=True)
    sent_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    top_up = fields.BooleanField(default=False)  # added by a contacts-number top-up
    # Which delivery of the plan: NULL the first (or the only list of a plan without delivery:
    # a NULL costs no byte), k the (k+1)-th. Unique per (run, delivery, contact) by two partial
    # indexes (0004). Read it as coalesce(delivery_no, 0).
    delivery_no = fields.SmallIntField(null=True)

    class Meta:
        table = "recipient"


class DeliveryBatch(Model):
    """A batch of recipients sent with one idempotency key (run, consumer, batch)."""

    id = fields.BigIntField(primary_key=True)
    run = fields.ForeignKeyField("models.PlanRun", related_name="batches", on_delete=fields.CASCADE)
    consumer_position = fields.IntField(default=0)
    batch_no = fields.IntField()
    size = fields.IntField()
    status = fields.CharField(max_length=16, default="pending")  # pending | sent | failed
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery_batch"
        unique_together = (("run", "consumer_position", "batch_no"),)
