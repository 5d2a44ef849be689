"""Do-not-disturb (contact pressure) policies: validation, choice, and the SQL that applies them.

A policy has rules "at most N messages per day / week / month / year". A contact is blocked
when, for any rule, the messages already sent to it (recipient rows with status `sent`, one per
delivery: an email and an SMS of one run are two messages) within
the period before the run's as-of time reach N. Periods are rolling: a day is the 24 hours
before as-of, a week 7 days, a month one calendar month, a year one calendar year.

A policy of one database counts that database's sends to the contact. A global policy
(`database` null) counts sends to the same person across every database of the installation:
contacts sharing the contact itself, its email (case-insensitive) or its phone are one person,
each send counted once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta

from models import DndPolicy

PERIODS: dict[str, relativedelta] = {
    "day": relativedelta(days=1),
    "week": relativedelta(weeks=1),
    "month": relativedelta(months=1),
    "year": relativedelta(years=1),
}
MAX_RULES = 10


@dataclass(frozen=True)
class DndRule:
    """At most `max` messages per `period`."""

    max: int
    period: str


class InvalidDndRules(ValueError):
    """DND rules with errors, each as (path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


def parse_rules(data: Any, path: str = "rules") -> list[DndRule]:
    """Validate a policy's rules; raise `InvalidDndRules` naming each bad entry."""
    if not isinstance(data, list):
        raise InvalidDndRules([(path, "must be a list of {max, period}")])
    errors: list[tuple[str, str]] = []
    rules: list[DndRule] = []
    if len(data) > MAX_RULES:
        errors.append((path, f"at most {MAX_RULES} rules"))
    for i, item in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(item, dict) or set(item) != {"max", "period"}:
            errors.append((where, "must be an object with exactly max and period"))
            continue
        limit, period = item["max"], item["period"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            errors.append((f"{where}.max", f"must be an integer >= 1, got {limit!r}"))
        if period not in PERIODS:
            errors.append((f"{where}.period", f"must be one of {', '.join(PERIODS)}"))
        if not errors:
            rules.append(DndRule(limit, period))
    if errors:
        raise InvalidDndRules(errors)
    return rules


async def policy_for_plan(policy_id: int | None, database_id: int) -> DndPolicy | None:
    """The plan's own policy, else the default one (the database's before the global one)."""
    if policy_id is not None:
        policy = await DndPolicy.get_or_none(id=policy_id, deleted_at=None)
        if policy is not None:
            return policy
    defaults = await DndPolicy.filter(is_default=True, deleted_at=None).all()
    own = [p for p in defaults if p.database_id == database_id]  # type: ignore[attr-defined]
    shared = [p for p in defaults if p.database_id is None]  # type: ignore[attr-defined]
    return (own or shared or [None])[0]


def blocked_contacts_cte(
    policy: DndPolicy | None,
    as_of: datetime,
    run_id: int,
    source: str,
    param: Callable[[Any], str],
    *,
    earlier_slots: int = 0,
) -> str | None:
    """SQL of a CTE body selecting `contact_id` of the contacts in `source` the policy blocks.

    `source` names a CTE with a `contact_id` column; `param(value)` adds a bind parameter and
    returns its placeholder. None when the policy has no rule. Every message sent counts (a
    contact sent an email and an SMS by one run got two). With `earlier_slots` = k, the list
    of the run's (k+1)-th delivery is being written: the messages its first k deliveries are
    about to send (their pending rows) count too, as sent at the as-of time.
    """
    if policy is None:
        return None
    rules = parse_rules(policy.rules)
    if not rules:
        return None
    since = {rule.period: as_of - PERIODS[rule.period] for rule in rules}
    earliest = min(since.values())
    having = " OR ".join(
        f"count(*) FILTER (WHERE r.sent_at >= {param(since[rule.period])}) >= {param(rule.max)}"
        for rule in rules
    )
    run = param(run_id)
    sent = f"r.status = 'sent' AND r.sent_at >= {param(earliest)} AND r.run_id <> {run}"
    # The messages counted: recipient rows (contact_id, sent_at) named `r`.
    messages = "recipient r"
    if earlier_slots:
        messages = (
            f"(SELECT r.contact_id, r.sent_at FROM recipient r WHERE {sent}"
            f" UNION ALL SELECT r.contact_id, {param(as_of)}::timestamptz FROM recipient r"
            f" WHERE r.run_id = {run} AND coalesce(r.delivery_no, 0) < {param(earlier_slots)}"
            f" AND r.status = 'pending') r"
        )
        sent = "TRUE"
    if policy.database_id is not None:  # type: ignore[attr-defined]
        return (
            f"SELECT r.contact_id FROM {messages} "
            f"WHERE {sent} AND r.contact_id IN (SELECT contact_id FROM {source}) "
            f"GROUP BY r.contact_id HAVING {having}"
        )
    # One person across databases: the contact itself and those sharing its email or phone.
    return (
        f"SELECT p.contact_id FROM ("
        f"SELECT s.contact_id, s.contact_id AS other_id FROM {source} s "
        f"UNION SELECT s.contact_id, o.id FROM {source} s "
        f"JOIN contact me ON me.id = s.contact_id "
        f"JOIN contact o ON lower(o.email) = lower(me.email) "
        f"WHERE me.email IS NOT NULL AND o.email IS NOT NULL "
        f"UNION SELECT s.contact_id, o.id FROM {source} s "
        f"JOIN contact me ON me.id = s.contact_id JOIN contact o ON o.phone = me.phone "
        f"WHERE me.phone IS NOT NULL"
        f") p JOIN {messages} ON r.contact_id = p.other_id "
        f"WHERE {sent} GROUP BY p.contact_id HAVING {having}"
    )
