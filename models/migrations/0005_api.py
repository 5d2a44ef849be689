"""Schema support for the GraphQL API and reports (see docs/architecture.md)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

STATEMENTS: list[tuple[str, str]] = []  # (forward SQL, reverse SQL)


class Migration(migrations.Migration):
    dependencies = [("models", "0004_delivery")]

    operations = [ops.RunSQL(sql, reverse_sql=reverse) for sql, reverse in STATEMENTS]
