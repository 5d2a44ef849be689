"""Schema support for faster segment SQL (see docs/architecture.md).

- `event.category`: the `category` property typed as text, generated from the JSONB
  (`models.contacts.EVENT_STRING_COLUMNS`); NULL when absent or not a JSON string, exactly
  as the segment SQL reads it from `properties`.
- `event_type_contact`: one event type's events in contact order with time, value and
  category, so per-contact counts, aggregates, % thresholds and first/last times are
  index-only scans feeding a streaming GroupAggregate (no hash table to spill to disk).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

CATEGORY_COLUMN = (
    "ALTER TABLE event ADD COLUMN category text GENERATED ALWAYS AS ("
    "CASE WHEN jsonb_typeof(properties -> 'category') = 'string'"
    " THEN properties ->> 'category' END) STORED"
)

# (name, SQL) like migration 0002's INDEXES: bench/datagen.py rebuilds these after big loads.
INDEXES = [
    ("event_type_contact",
     "CREATE INDEX event_type_contact ON event (event_type_id, contact_id, occurred_at) "
     "INCLUDE (value, category)"),
]  # fmt: skip

STATEMENTS: list[tuple[str, str]] = [  # (forward SQL, reverse SQL)
    (CATEGORY_COLUMN, "ALTER TABLE event DROP COLUMN IF EXISTS category"),
    *((sql, f"DROP INDEX IF EXISTS {name}") for name, sql in INDEXES),
]


class Migration(migrations.Migration):
    dependencies = [("models", "0002_indexes")]

    operations = [ops.RunSQL(sql, reverse_sql=reverse) for sql, reverse in STATEMENTS]
