"""Schema support for faster segment SQL (see docs/architecture.md)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

STATEMENTS: list[tuple[str, str]] = []  # (forward SQL, reverse SQL)


class Migration(migrations.Migration):
    dependencies = [("models", "0002_indexes")]

    operations = [ops.RunSQL(sql, reverse_sql=reverse) for sql, reverse in STATEMENTS]
