"""Schema support for plans and deliveries (see docs/architecture.md)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

STATEMENTS: list[tuple[str, str]] = []  # (forward SQL, reverse SQL)


class Migration(migrations.Migration):
    dependencies = [("models", "0003_segmentation_speed")]

    operations = [ops.RunSQL(sql, reverse_sql=reverse) for sql, reverse in STATEMENTS]
