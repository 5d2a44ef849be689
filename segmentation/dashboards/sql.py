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


# Member sets up to these shares of the database's contacts read their rows on indexes led by
# the contact id (break-even points measured with bench/dashboards.py on 1M contacts).
CONTACT_LOOKUP_SHARE = 0.3  # contact rows, by primary key
EVENT_LOOKUP_SHARE = 0.6  # a time frame's events of every type (~10 per contact a year)
PURCHASE_LOOKUP_SHARE = 0.15  # one sparse event type


@dataclass(frozen=True)
class Scope:
    """The contacts a dashboard covers: a whole database, or a member set within it."""

    database_id: int
    member_sql: str | None = None
    member_params: tuple[Any, ...] = ()
    # Members / the database's contacts: up to a panel's LOOKUP share, the members' rows are
    # looked up member by member; above it, the database's rows are scanned, members' kept.
    share: float = 1.0

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

    def _members(self, contact_id: str, *, lookup: bool = True) -> str:
        if self.member_sql is None:
            return ""
        if lookup and self.looks_up(CONTACT_LOOKUP_SHARE):  # the members' rows by primary key
            return f" AND {contact_id} = ANY(ARRAY(SELECT contact_id FROM ({self.member_sql}) m))"
        return f" AND {contact_id} IN (SELECT contact_id FROM ({self.member_sql}) AS members)"

    def looks_up(self, up_to: float) -> bool:
        """Whether a member set this small reads its rows member by member."""
        return self.member_sql is not None and self.share <= up_to

    def events(
        self, columns: Sequence[str], conditions: str, up_to: float, alias: str = "e"
    ) -> str:
        """A FROM item `alias` with `columns` of the scope's events meeting `conditions`.

        A member set up to `up_to` of the database: a nested loop over the members, each one's
        events found on an index led by the contact id (`OFFSET 0` keeps the planner from
        flattening it into a hash join); otherwise the events meeting `conditions`, kept if
        their contact is a member. Only `columns` are read: index-only scans stay possible.
        """
        selected = ", ".join(f"{alias}.{column}" for column in columns)
        if self.looks_up(up_to):
            return (
                f"({self.member_sql}) AS m CROSS JOIN LATERAL (SELECT {selected} FROM event {alias}"
                f" WHERE {alias}.contact_id = m.contact_id AND {conditions} OFFSET 0) AS {alias}"
            )
        where = f"{conditions}{self._members(f'{alias}.contact_id', lookup=False)}"
        return f"(SELECT {selected} FROM event {alias} WHERE {where}) AS {alias}"

    def materialized(self, table: str, share: float) -> Scope:
        """The same member set read from `table` (its `contact_id` column)."""
        return Scope(self.database_id, f"SELECT contact_id FROM {table}", share=share)

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
