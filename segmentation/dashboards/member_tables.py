"""The UNLOGGED member tables of dashboard computations: their names, and dropping the ones
a crashed computation left behind (its `finally` never ran).

A name carries its creation time (`dashboard_members_<unix seconds>_<16 hex>`), since
PostgreSQL keeps none; a computation takes seconds, so a table older than `MAX_AGE_SECONDS`
is an orphan. The worker's scheduler drops them (`actors/dashboard_sweep.py`).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

PREFIX = "dashboard_members_"
MAX_AGE_SECONDS = 3600
_NAME = re.compile(r"^dashboard_members_(\d{10})_[0-9a-f]{16}$")
_FIND = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
    " AND c.relname LIKE 'dashboard\\_members\\_%' ORDER BY c.relname"
)


def new_table_name(now: float | None = None) -> str:
    """A fresh member table name stamped with `now` (default: the current time)."""
    stamp = int(time.time() if now is None else now)
    return f"{PREFIX}{stamp:010d}_{uuid.uuid4().hex[:16]}"


async def drop_orphans(
    conn: Any, *, now: float | None = None, max_age: float = MAX_AGE_SECONDS
) -> list[str]:
    """Drop the member tables older than `max_age` seconds; their names. Names not made by
    `new_table_name` are left alone."""
    cutoff = (time.time() if now is None else now) - max_age
    dropped = []
    for row in await conn.fetch(_FIND):
        name = row["relname"]
        match = _NAME.match(name)
        if match and int(match[1]) < cutoff:
            await conn.execute(f'DROP TABLE IF EXISTS "{name}"')  # a checked pattern, quoted
            dropped.append(name)
    return dropped
