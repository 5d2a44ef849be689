"""SQL building blocks shared by the panels: the member set (scope) and top N + other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from segmentation.params import Params


class CompiledSql(Protocol):
    """Anything with SQL selecting `contact_id` and its `$n` parameters (a compiled segment)."""

    sql: str
    params: Sequence[Any]


MEMBERS_TABLE = "pg_temp.dashboard_members"


@dataclass(frozen=True)
class Scope:
    """The contacts a dashboard covers: a whole database, or a member set within it."""

    database_id: int
    member_sql: str | None = None
    member_params: tuple[Any, ...] = ()

    @classmethod
    def of(cls, database_id: int, members: CompiledSql | tuple[str, Sequence[Any]] | None) -> Scope:
        if members is None:
            return cls(database_id)
        sql, params = members if isinstance(members, tuple) else (members.sql, members.params)
        return cls(database_id, sql, tuple(params))

    def params(self) -> Params:
        """Parameters of one statement, after the member set's own: its SQL keeps `$1..$k`."""
        return Params(list(self.member_params))

    def contact_filter(self, p: Params, alias: str = "c") -> str:
        """WHERE condition keeping the scope's rows of `contact {alias}`."""
        database = p.add(self.database_id, "int")
        return f"{alias}.database_id = {database}" + self._members(f"{alias}.id")

    def event_filter(self, alias: str = "e") -> str:
        """WHERE condition keeping the events of the member set (`event {alias}`).

        Events are tied to the database by their event type, which every event panel restricts
        to the database's types: that keeps event scans on the (type, time) index.
        """
        return "TRUE" + self._members(f"{alias}.contact_id")

    def _members(self, contact_id: str) -> str:
        if self.member_sql is None:
            return ""
        return f" AND {contact_id} IN (SELECT contact_id FROM ({self.member_sql}) AS members)"

    def materialized(self) -> Scope:
        """The same member set read from the connection's `dashboard_members` temp table."""
        return Scope(self.database_id, f"SELECT contact_id FROM {MEMBERS_TABLE}")

    def count_sql(self, p: Params) -> str:
        """A scalar subquery counting the scope's contacts."""
        return f"(SELECT count(*) FROM contact c WHERE {self.contact_filter(p)})"


def top_values_sql(grouped_sql: str, top: str) -> str:
    """Top `top` labels of `grouped_sql` (columns `label`, `n`), then `other`, then unknown.

    Returns rows (label, n, part) with part 0 = a top value, 1 = all others, 2 = unknown (NULL).
    """
    return f"""
    WITH g AS ({grouped_sql}),
    r AS (SELECT label, n, row_number() OVER (ORDER BY n DESC, label) AS rank
          FROM g WHERE label IS NOT NULL)
    SELECT label, n, 0 AS part FROM r WHERE rank <= {top}
    UNION ALL SELECT NULL, sum(n), 1 FROM r WHERE rank > {top} HAVING count(*) > 0
    UNION ALL SELECT NULL, n, 2 FROM g WHERE label IS NULL
    ORDER BY part, n DESC, label"""
