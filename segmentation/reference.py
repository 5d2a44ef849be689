"""Pure-Python reference evaluator: the same tree over in-memory contacts and events.

Used by the tests: the SQL result must equal this on random trees and data. It follows
the same dispatch as `compile.py`, one function per node kind, and shares the operator
table and the value resolution, so the two differ only in how they are evaluated.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from segmentation.catalog import Catalog, EventTypeInfo
from segmentation.compile import seed_number
from segmentation.operators import OPERATORS
from segmentation.pg_hash import hashint8extended_low32
from segmentation.tree import (
    VALUE_PROPERTY,
    Condition,
    ContactRule,
    Correlation,
    Definition,
    EventPick,
    EventRule,
    Group,
    Metric,
    Node,
    Not,
    Sample,
    SegmentRef,
    Sequence,
    Window,
)
from segmentation.validate import ValidSegment
from segmentation.values import EvalContext, from_json_attribute, window_bounds


@dataclass
class Dataset:
    """Contacts (dicts with `id`, contact columns, `attributes`) and events (dicts with
    `contact_id`, `event_type` key, `occurred_at`, `value`, `properties`)."""

    contacts: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)


def sample_hash(seed: str, contact_id: int) -> int:
    """The 32-bit hash of (contact id, seed) of `compile.sample_bucket_sql`."""
    return hashint8extended_low32(contact_id, seed_number(seed))


def evaluate(
    segment: ValidSegment, catalog: Catalog, as_of: dt.datetime, data: Dataset
) -> set[int]:
    """The member ids of a definition over a dataset."""
    return _Reference(segment, catalog, as_of, data).members(segment.definition)


def evaluate_nodes(
    segment: ValidSegment, catalog: Catalog, as_of: dt.datetime, data: Dataset, contact_id: int
) -> dict[str, bool]:
    """The truth value of every node (and contact condition) for one contact, by path."""
    ref = _Reference(segment, catalog, as_of, data)
    contact = next(c for c in data.contacts if c["id"] == contact_id)
    ref.record = {}
    ref.node(segment.definition.root, contact)
    return ref.record


class _Reference:
    def __init__(
        self, segment: ValidSegment, catalog: Catalog, as_of: dt.datetime, data: Dataset
    ) -> None:
        self.catalog = catalog
        self.ctx = EvalContext(as_of, catalog.timezone)
        self.references = segment.references
        self.data = data
        self.events: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for event in data.events:
            self.events[event["contact_id"]][event["event_type"]].append(event)
        self.record: dict[str, bool] | None = None
        self.prefix = ""
        self.ref_members: dict[int, set[int]] = {}

    def members(self, definition: Definition) -> set[int]:
        ids = [c["id"] for c in self.data.contacts if self.node(definition.root, c)]
        if definition.refine is None:
            return set(ids)
        refine = definition.refine
        metric = {i: self.metric(refine.metric, i) for i in ids}

        def key(contact_id: int):
            value = metric[contact_id]
            if value is None:
                return (1, Decimal(0), contact_id)
            return (0, -value if refine.order == "top" else value, contact_id)

        return set(sorted(ids, key=key)[: refine.limit])

    # -- dispatch ------------------------------------------------------------------------
    def node(self, node: Node, contact: dict) -> bool:
        result = _NODE_EVALUATORS[type(node)](self, node, contact)
        if self.record is not None:
            self.record[self.prefix + node.path] = result
        return result

    def group(self, node: Group, contact: dict) -> bool:
        results = [self.node(child, contact) for child in node.children]  # all, for explain
        return all(results) if node.op == "and" else any(results)

    def negation(self, node: Not, contact: dict) -> bool:
        return not self.node(node.child, contact)

    def sequence(self, node: Sequence, contact: dict) -> bool:
        acc = self.node(node.first, contact)
        for step in node.steps:
            item = self.node(step.node, contact)
            acc = {"and": acc and item, "or": acc or item, "except": acc and not item}[step.join]
        return acc

    def contact_rule(self, node: ContactRule, contact: dict) -> bool:
        results = []
        for cond in node.conditions:
            f = self.catalog.fields[cond.key]
            if f.storage == "column":
                value = contact.get(f.column)  # type: ignore[arg-type]
            else:
                value = from_json_attribute(
                    f.data_type, (contact.get("attributes") or {}).get(f.key)
                )
            result = self.condition(value, f.data_type, cond, f.enum_values)
            if self.record is not None:
                self.record[self.prefix + cond.path] = result
            results.append(result)
        return all(results) if node.match == "all" else any(results)

    def condition(self, value: Any, data_type: str, cond: Condition, enum_values=()) -> bool:
        op = OPERATORS[cond.op]
        prepared = op.prepare(cond.value, data_type, self.ctx, enum_values)
        return op.py(value, prepared, data_type, self.ctx)

    def in_window(self, events: list[dict], window: Window) -> list[dict]:
        low, high, inclusive = window_bounds(
            window.kind, window.start, window.end, window.amount, window.unit, self.ctx
        )
        return [
            e
            for e in events
            if (low is None or e["occurred_at"] >= low)
            and (
                high is None or e["occurred_at"] < high or (inclusive and e["occurred_at"] == high)
            )
        ]

    def prop(self, et: EventTypeInfo, event: dict, key: str) -> tuple[Any, str]:
        if key == VALUE_PROPERTY:
            value = event.get("value")
            return (Decimal(str(value)) if value is not None else None), "decimal"
        data_type = et.properties[key].data_type
        return from_json_attribute(data_type, (event.get("properties") or {}).get(key)), data_type

    def matches(self, et: EventTypeInfo, event: dict, conditions, match: str) -> bool:
        results = []
        for cond in conditions:
            value, data_type = self.prop(et, event, cond.key)
            results.append(self.condition(value, data_type, cond))
        if not results:
            return True  # no conditions: every event of the type counts
        return all(results) if match == "all" else any(results)

    def compare(self, value: Any, op_name: str, raw: Any, data_type: str) -> bool:
        op = OPERATORS[op_name]
        return op.py(value, op.prepare(raw, data_type, self.ctx, ()), data_type, self.ctx)

    def event_rule(self, node: EventRule, contact: dict) -> bool:
        et = self.catalog.event_types[node.event_type]
        window_events = self.in_window(self.events[contact["id"]][et.key], node.window)
        matching = [e for e in window_events if self.matches(et, e, node.conditions, node.match)]
        tests = []
        if node.count is not None:
            tests.append(
                self.compare(Decimal(len(matching)), node.count.op, node.count.value, "integer")
            )
        if node.aggregate is not None:
            agg = node.aggregate
            values = [v for e in matching if (v := self.prop(et, e, agg.of)[0]) is not None]
            tests.append(self.compare(_aggregate(agg.fn, values), agg.op, agg.value, "decimal"))
        if node.share is not None:
            share = (
                Decimal(len(matching)) * 100 / Decimal(len(window_events))
                if window_events
                else None
            )
            tests.append(self.compare(share, node.share.op, node.share.value, "decimal"))
        hit = all(tests) if tests else bool(matching)
        return hit if node.have else not hit

    def pick_time(self, pick: EventPick, contact: dict) -> dt.datetime | None:
        et = self.catalog.event_types[pick.event_type]
        events = self.in_window(self.events[contact["id"]][et.key], pick.window)
        times = [
            e["occurred_at"] for e in events if self.matches(et, e, pick.conditions, pick.match)
        ]
        if not times:
            return None
        return min(times) if pick.occurrence == "first" else max(times)

    def correlation(self, node: Correlation, contact: dict) -> bool:
        a, b = self.pick_time(node.first, contact), self.pick_time(node.second, contact)
        if a is None or b is None:
            return False
        d = dt.timedelta(days=node.days)
        return {
            "within": abs(a - b) <= d,
            "within_after": a >= b and a - b <= d,
            "within_before": b >= a and b - a <= d,
            "more_than": abs(a - b) > d,
            "more_than_after": a - b > d,
            "more_than_before": b - a > d,
        }[node.op]

    def segment_ref(self, node: SegmentRef, contact: dict) -> bool:
        definition = self.references[node.segment_id]
        saved = self.prefix
        self.prefix = f"{saved}{node.path}>"
        try:
            hit = self.node(definition.root, contact)  # explain shows the inner tree either way
        finally:
            self.prefix = saved
        if definition.refine is not None:
            if node.segment_id not in self.ref_members:
                record, self.record = self.record, None
                self.ref_members[node.segment_id] = self.members(definition)
                self.record = record
            hit = contact["id"] in self.ref_members[node.segment_id]
        return hit if node.include else not hit

    def sample(self, node: Sample, contact: dict) -> bool:
        return node.start <= sample_hash(node.seed, contact["id"]) % node.buckets < node.end

    def metric(self, metric: Metric, contact_id: int) -> Decimal | None:
        et = self.catalog.event_types[metric.event_type]
        events = self.in_window(self.events[contact_id][et.key], metric.window)
        values = [v for e in events if (v := self.prop(et, e, metric.of)[0]) is not None]
        value = _aggregate(metric.fn, values)
        if value is None and metric.fn in ("sum", "count"):
            return Decimal(0)
        return value


def _aggregate(fn: str, values: list[Decimal]) -> Decimal | None:
    if fn == "count":
        return Decimal(len(values))
    if fn == "sum":
        return sum(values, Decimal(0))
    if not values:
        return None
    if fn == "min":
        return min(values)
    if fn == "max":
        return max(values)
    return sum(values, Decimal(0)) / Decimal(len(values))


_NODE_EVALUATORS = {
    Group: _Reference.group,
    Not: _Reference.negation,
    Sequence: _Reference.sequence,
    ContactRule: _Reference.contact_rule,
    EventRule: _Reference.event_rule,
    Correlation: _Reference.correlation,
    SegmentRef: _Reference.segment_ref,
    Sample: _Reference.sample,
}
