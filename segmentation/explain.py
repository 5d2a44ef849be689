"""Why a contact is (not) in a segment: the truth value of every node of its tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segmentation.compile import CompiledSegment
from segmentation.run import connection


@dataclass(frozen=True)
class NodeTruth:
    """One node (or contact condition) of the tree and whether it holds for the contact."""

    path: str
    kind: str
    value: bool


@dataclass(frozen=True)
class Explanation:
    """Whether the contact is a member (refinement included) and why, node by node."""

    contact_id: int
    member: bool
    nodes: list[NodeTruth]


async def explain_contact(
    compiled: CompiledSegment, contact_id: int, *, conn: Any = None
) -> Explanation | None:
    """Evaluate every node of the compiled tree for one contact (None: no such contact here)."""
    n = len(compiled.explain_params)
    contact = f"${n + 1}::bigint"
    columns = [f"{item.sql} AS n{i}" for i, item in enumerate(compiled.explain_items)]
    if compiled.explain_sql:
        # The explain form of the statement lets `contact_id` reach every per-contact set. It
        # shares the truths' parameters (some only the truths use), so it asks in the same
        # statement: every parameter is then referenced, and typed.
        columns.append(
            f"EXISTS (SELECT 1 FROM ({compiled.explain_sql}) m WHERE m.contact_id = {contact})"
            " AS member"
        )
    truths = (
        f"SELECT {', '.join(['c.id', *columns])} FROM {compiled.explain_from}"
        f" WHERE c.database_id = $1 AND c.id = {contact}"
    )
    async with connection(conn) as c:
        row = await c.fetchrow(truths, *compiled.explain_params, contact_id)
        if compiled.explain_sql:
            is_member = row is not None and row["member"]
        else:  # a refinement ranks all members: ask the statement itself
            member = (
                f"SELECT EXISTS (SELECT 1 FROM ({compiled.sql}) m"
                f" WHERE m.contact_id = ${len(compiled.params) + 1}::bigint)"
            )
            is_member = await c.fetchval(member, *compiled.params, contact_id)
    if row is None:
        return None
    nodes = [
        NodeTruth(item.path, item.kind, bool(row[f"n{i}"]))
        for i, item in enumerate(compiled.explain_items)
    ]
    nodes.sort(key=lambda t: t.path)
    return Explanation(contact_id, bool(is_member), nodes)
