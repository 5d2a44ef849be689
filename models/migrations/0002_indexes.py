"""Indexes the segment SQL, the scheduler and the delivery path need (see docs/architecture.md)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEXES = [
    # Event conditions per contact: EXISTS / aggregates probe (contact, type, time).
    ("event_contact_type_time",
     "CREATE INDEX event_contact_type_time ON event (contact_id, event_type_id, occurred_at) "
     "INCLUDE (value)"),
    # Set-based event conditions: all contacts who did X in a window, index-only.
    ("event_type_time",
     "CREATE INDEX event_type_time ON event (event_type_id, occurred_at) INCLUDE (contact_id, value)"),
    # Idempotent event ingest by the partner's event id.
    ("event_external_id",
     "CREATE UNIQUE INDEX event_external_id ON event (database_id, external_id) "
     "WHERE external_id IS NOT NULL"),
    # Global DND counts a person once across databases by email / phone.
    ("contact_email", "CREATE INDEX contact_email ON contact (lower(email)) WHERE email IS NOT NULL"),
    ("contact_phone", "CREATE INDEX contact_phone ON contact (phone) WHERE phone IS NOT NULL"),
    ("contact_attributes",
     "CREATE INDEX contact_attributes ON contact USING gin (attributes jsonb_path_ops)"),
    # Scheduler tick: due plans only.
    ("plan_due",
     "CREATE INDEX plan_due ON plan (next_run_at) "
     "WHERE deleted_at IS NULL AND state IN ('ready', 'active')"),
    ("plan_run_open",
     "CREATE INDEX plan_run_open ON plan_run (state, heartbeat_at) "
     "WHERE state IN ('pending', 'evaluating', 'delivering')"),
    # Delivery: a batch's recipients; DND / frequency cap: a contact's past sends.
    ("recipient_batch", "CREATE INDEX recipient_batch ON recipient (run_id, batch_no, status)"),
    ("recipient_contact_sent",
     "CREATE INDEX recipient_contact_sent ON recipient (contact_id, sent_at) "
     "WHERE status = 'sent'"),
    ("segment_database", "CREATE INDEX segment_database ON segment (database_id) "
     "WHERE deleted_at IS NULL"),
    ("audit_entry_at", "CREATE INDEX audit_entry_at ON audit_entry (at DESC)"),
    ("audit_entry_object", "CREATE INDEX audit_entry_object ON audit_entry (object_type, object_id)"),
]


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [
        ops.RunSQL(sql, reverse_sql=f"DROP INDEX IF EXISTS {name}") for name, sql in INDEXES
    ]
