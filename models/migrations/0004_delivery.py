"""Schema support for plans and deliveries (see docs/architecture.md).

- `recipient.top_up`: the contact was added by a contacts-number top-up (not in the segment).
- `recipient.run_id` keeps no foreign-key constraint: its per-row check cost a third of the
  time to write a 1,000,000-contact list. Only `run_plan` inserts recipients, holding the run's
  row lock; deleting runs still deletes their recipients, by a statement-level trigger.
- `recipient.delivery_no`: a plan may have several deliveries (email and SMS...), each with its
  own rows: NULL for the first delivery (a NULL costs no byte of the row), k for the (k+1)-th.
  Unique per (run, delivery, contact) by two partial indexes: the first delivery's rows keep
  the narrow (run_id, contact_id) entries, so a single-delivery list writes the same rows,
  index entries and WAL as before (bench/delivery.py --list-only). `recipient_pending` stays
  (run_id, batch_no): the rows of the other deliveries of a batch number are filtered.
- `recipient_pending` replaces `recipient_batch`: `deliver_batch` reads and marks only pending
  recipients, so only those (not the excluded ones, not the sent ones) need an entry.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

STATEMENTS: list[tuple[str, str]] = [  # (forward SQL, reverse SQL)
    (
        "ALTER TABLE recipient ALTER COLUMN top_up SET DEFAULT false",
        "ALTER TABLE recipient ALTER COLUMN top_up DROP DEFAULT",
    ),
    (
        "ALTER TABLE recipient DROP CONSTRAINT IF EXISTS recipient_run_id_fkey",
        "ALTER TABLE recipient ADD CONSTRAINT recipient_run_id_fkey FOREIGN KEY (run_id)"
        " REFERENCES plan_run (id) ON DELETE CASCADE",
    ),
    (
        "CREATE FUNCTION recipient_delete_with_run() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN DELETE FROM recipient WHERE run_id IN (SELECT id FROM gone); RETURN NULL; END $$",
        "DROP FUNCTION recipient_delete_with_run()",
    ),
    (
        "CREATE TRIGGER recipient_delete_with_run AFTER DELETE ON plan_run"
        " REFERENCING OLD TABLE AS gone FOR EACH STATEMENT"
        " EXECUTE FUNCTION recipient_delete_with_run()",
        "DROP TRIGGER recipient_delete_with_run ON plan_run",
    ),
    (
        "DROP INDEX IF EXISTS recipient_batch",
        "CREATE INDEX recipient_batch ON recipient (run_id, batch_no, status)",
    ),
    (
        "ALTER TABLE recipient DROP CONSTRAINT IF EXISTS uid_recipient_run_id_127f92",
        "ALTER TABLE recipient ADD CONSTRAINT uid_recipient_run_id_127f92"
        " UNIQUE (run_id, contact_id)",
    ),
    (
        "CREATE UNIQUE INDEX recipient_run_contact ON recipient (run_id, contact_id)"
        " WHERE delivery_no IS NULL",
        "DROP INDEX recipient_run_contact",
    ),
    (
        "CREATE UNIQUE INDEX recipient_run_delivery_contact"
        " ON recipient (run_id, delivery_no, contact_id) WHERE delivery_no IS NOT NULL",
        "DROP INDEX recipient_run_delivery_contact",
    ),
    (
        "CREATE INDEX recipient_pending ON recipient (run_id, batch_no) WHERE status = 'pending'",
        "DROP INDEX recipient_pending",
    ),
]


class Migration(migrations.Migration):
    dependencies = [("models", "0003_segmentation_speed")]

    operations = [
        ops.AddField(
            model_name="Recipient",
            name="top_up",
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name="Recipient",
            name="delivery_no",
            field=fields.SmallIntField(null=True),
        ),
        *(ops.RunSQL(sql, reverse_sql=reverse) for sql, reverse in STATEMENTS),
    ]
