"""Schema support for the GraphQL API and reports (see docs/architecture.md)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

STATEMENTS: list[tuple[str, str]] = [  # (forward SQL, reverse SQL)
    # Run reports: a run's feedback events (delivered, opened, clicked...) by run id. Partial:
    # only platform feedback carries a run id, so the index stays small.
    (
        "CREATE INDEX event_feedback_run ON event ((properties->>'run_id'), event_type_id) "
        "WHERE properties ? 'run_id'",
        "DROP INDEX IF EXISTS event_feedback_run",
    ),
]


class Migration(migrations.Migration):
    dependencies = [("models", "0004_delivery")]

    operations = [ops.RunSQL(sql, reverse_sql=reverse) for sql, reverse in STATEMENTS]
