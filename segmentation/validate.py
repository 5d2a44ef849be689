"""Parse, then check a definition against the catalog and the segments it references.

Every mistake comes back as a SegmentError naming the node path; nothing here touches SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from segmentation.catalog import Catalog, EventTypeInfo
from segmentation.errors import InvalidSegment, SegmentError
from segmentation.operators import NUMERIC_OPERATORS, OPERATORS, operators_for
from segmentation.parse import parse_tree
from segmentation.tree import (
    VALUE_PROPERTY,
    Aggregate,
    Compare,
    Condition,
    ContactRule,
    Correlation,
    Definition,
    EventPick,
    EventRule,
    Metric,
    SegmentRef,
    Window,
    walk,
)
from segmentation.values import EvalContext, is_relative, to_date

# segment id -> its stored JSON definition, or None when it does not exist in this database
ResolveSegment = Callable[[int], Awaitable[Any | None]]
MAX_REFERENCED_SEGMENTS = 50


@dataclass(frozen=True)
class ValidSegment:
    """A checked definition and the checked definitions of every segment it references."""

    definition: Definition
    references: dict[int, Definition]


class _Checker:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.ctx = EvalContext(dt.datetime.now(dt.UTC), catalog.timezone)
        self.errors: list[SegmentError] = []

    def error(self, path: str, message: str, code: str) -> None:
        self.errors.append(SegmentError(path, message, code))

    def definition(self, definition: Definition) -> None:
        for node in walk(definition.root):
            check = getattr(self, f"check_{type(node).__name__}", None)
            if check is not None:
                check(node)
        if definition.refine is not None:
            self.metric(definition.refine.metric)

    # -- node kinds --------------------------------------------------------------------
    def check_ContactRule(self, node: ContactRule) -> None:
        for cond in node.conditions:
            f = self.catalog.fields.get(cond.key)
            if f is None:
                self.error(f"{cond.path}.field", f"unknown field {cond.key!r}", "unknown_field")
                continue
            self.condition(cond, f.data_type, f.enum_values, f"field {cond.key!r}")

    def check_EventRule(self, node: EventRule) -> None:
        et = self.event_type(node.event_type, f"{node.path}.type")
        self.window(node.window)
        if et is None:
            return
        self.event_conditions(et, node.conditions)
        if node.count is not None:
            self.compare(node.count, "value", "integer", "a number of events")
            if not self.errors and _bad_count(node.count):
                self.error(
                    f"{node.count.path}.value", "a count cannot be negative", "invalid_value"
                )
        if node.aggregate is not None:
            self.aggregate(et, node.aggregate)
        if node.share is not None:
            self.compare(node.share, "percent", "decimal", "a percentage")

    def check_Correlation(self, node: Correlation) -> None:
        for pick in (node.first, node.second):
            self.pick(pick)

    def pick(self, pick: EventPick) -> None:
        et = self.event_type(pick.event_type, f"{pick.path}.type")
        self.window(pick.window)
        if et is not None:
            self.event_conditions(et, pick.conditions)

    # -- pieces ------------------------------------------------------------------------
    def event_type(self, key: str, path: str) -> EventTypeInfo | None:
        et = self.catalog.event_types.get(key)
        if et is None:
            self.error(path, f"unknown event type {key!r}", "unknown_event_type")
        return et

    def property_type(self, et: EventTypeInfo, key: str, path: str) -> str | None:
        if key == VALUE_PROPERTY:
            return "decimal"
        prop = et.properties.get(key)
        if prop is None:
            known = ", ".join([VALUE_PROPERTY, *et.properties])
            self.error(
                path,
                f"unknown property {key!r} of event type {et.key!r}; expected one of {known}",
                "unknown_property",
            )
            return None
        return prop.data_type

    def event_conditions(self, et: EventTypeInfo, conditions: tuple[Condition, ...]) -> None:
        for cond in conditions:
            data_type = self.property_type(et, cond.key, f"{cond.path}.property")
            if data_type is not None:
                self.condition(cond, data_type, (), f"property {cond.key!r}")

    def condition(self, cond: Condition, data_type: str, enum_values, what: str) -> None:
        op = OPERATORS.get(cond.op)
        if op is None or data_type not in op.types:
            allowed = ", ".join(operators_for(data_type))
            reason = "unknown operator" if op is None else "operator not allowed on"
            self.error(
                f"{cond.path}.op",
                f"{reason} {cond.op!r} for {what} ({data_type}); expected one of {allowed}",
                "unknown_operator" if op is None else "operator_not_allowed",
            )
            return
        try:
            op.prepare(cond.value, data_type, self.ctx, enum_values)
        except ValueError as exc:
            self.error(f"{cond.path}.value", f"{exc} for {what} ({data_type})", "invalid_value")

    def compare(self, cmp: Compare, value_key: str, data_type: str, what: str) -> None:
        op = OPERATORS.get(cmp.op)
        if cmp.op not in NUMERIC_OPERATORS or op is None:
            self.error(
                f"{cmp.path}.op",
                f"expected one of {', '.join(NUMERIC_OPERATORS)}, got {cmp.op!r}",
                "operator_not_allowed",
            )
            return
        try:
            op.prepare(cmp.value, data_type, self.ctx, ())
        except ValueError as exc:
            self.error(f"{cmp.path}.{value_key}", f"{exc} ({what})", "invalid_value")

    def aggregate(self, et: EventTypeInfo, agg: Aggregate) -> None:
        data_type = self.property_type(et, agg.of, f"{agg.path}.of")
        if data_type is not None and agg.fn != "count" and data_type not in ("integer", "decimal"):
            self.error(
                f"{agg.path}.of",
                f"{agg.fn} needs a numeric property; {agg.of!r} is {data_type}",
                "not_aggregable",
            )
        self.compare(Compare(agg.op, agg.value, agg.path), "value", "decimal", "a number")

    def metric(self, metric: Metric) -> None:
        et = self.event_type(metric.event_type, f"{metric.path}.type")
        self.window(metric.window)
        if et is None:
            return
        data_type = self.property_type(et, metric.of, f"{metric.path}.of")
        if (
            data_type is not None
            and metric.fn != "count"
            and data_type not in ("integer", "decimal")
        ):
            self.error(
                f"{metric.path}.of",
                f"{metric.fn} needs a numeric property; {metric.of!r} is {data_type}",
                "not_aggregable",
            )

    def window(self, window: Window) -> None:
        days = {}
        for key, raw in (("from", window.start), ("to", window.end)):
            if raw is None:
                continue
            sub = {"after": "after", "before": "before"}.get(window.kind, f"between.{key}")
            try:
                days[key] = to_date(raw, self.ctx)
            except ValueError as exc:
                self.error(f"{window.path}.{sub}", str(exc), "invalid_value")
        literal = not is_relative(window.start) and not is_relative(window.end)
        if window.kind == "between" and len(days) == 2 and literal and days["from"] > days["to"]:
            self.error(f"{window.path}.between", "'from' is after 'to'", "invalid_value")


def _bad_count(cmp: Compare) -> bool:
    values = cmp.value if isinstance(cmp.value, list) else [cmp.value]
    return any(isinstance(v, int) and v < 0 for v in values)


async def check_definition(
    data: Any,
    catalog: Catalog,
    *,
    resolve_segment: ResolveSegment | None = None,
    max_depth: int = 12,
    max_nodes: int = 200,
    segment_id: int | None = None,
) -> tuple[ValidSegment | None, list[SegmentError]]:
    """Parse and check a definition; return it with its references, or the errors."""
    definition, errors = parse_tree(data, max_depth=max_depth, max_nodes=max_nodes)
    if definition is None:
        return None, errors
    checker = _Checker(catalog)
    checker.definition(definition)
    if checker.errors:
        return None, checker.errors
    references: dict[int, Definition] = {}
    stack = [segment_id] if segment_id is not None else []
    errors = await _resolve(
        definition, catalog, resolve_segment, max_depth, max_nodes, stack, references
    )
    if errors:
        return None, errors
    return ValidSegment(definition, references), []


async def _resolve(
    definition: Definition,
    catalog: Catalog,
    resolve_segment: ResolveSegment | None,
    max_depth: int,
    max_nodes: int,
    stack: list[int],
    references: dict[int, Definition],
) -> list[SegmentError]:
    errors: list[SegmentError] = []
    refs: list[SegmentRef] = [n for n in walk(definition.root) if isinstance(n, SegmentRef)]
    for ref in refs:
        path = f"{ref.path}.id"
        if ref.segment_id in stack:
            cycle = " -> ".join(
                str(s) for s in [*stack[stack.index(ref.segment_id) :], ref.segment_id]
            )
            errors.append(SegmentError(path, f"segment references form a cycle: {cycle}", "cycle"))
            continue
        if ref.segment_id in references:
            continue
        raw = await resolve_segment(ref.segment_id) if resolve_segment is not None else None
        if raw is None:
            errors.append(
                SegmentError(path, f"unknown segment {ref.segment_id}", "unknown_segment")
            )
            continue
        if len(references) >= MAX_REFERENCED_SEGMENTS:
            errors.append(
                SegmentError(
                    path,
                    f"more than {MAX_REFERENCED_SEGMENTS} referenced segments",
                    "too_large",
                )
            )
            break
        child, child_errors = parse_tree(raw, max_depth=max_depth, max_nodes=max_nodes)
        if child is not None:
            checker = _Checker(catalog)
            checker.definition(child)
            child_errors = checker.errors
        if child is None or child_errors:
            first = child_errors[0] if child_errors else None
            detail = f": {first.path}: {first.message}" if first else ""
            errors.append(
                SegmentError(
                    path, f"segment {ref.segment_id} is not valid{detail}", "invalid_segment"
                )
            )
            continue
        references[ref.segment_id] = child
        nested = await _resolve(
            child,
            catalog,
            resolve_segment,
            max_depth,
            max_nodes,
            [*stack, ref.segment_id],
            references,
        )
        # Reported at the reference in the definition being checked (its paths are the ones
        # the user sees), naming where inside the referenced segment the problem is.
        errors += [
            SegmentError(path, f"in segment {ref.segment_id} at {e.path}: {e.message}", e.code)
            for e in nested
        ]
    return errors


async def validate_definition(
    data: Any,
    catalog: Catalog,
    *,
    resolve_segment: ResolveSegment | None = None,
    max_depth: int = 12,
    max_nodes: int = 200,
    segment_id: int | None = None,
) -> list[SegmentError]:
    """Every mistake in a definition (empty list = valid)."""
    _, errors = await check_definition(
        data,
        catalog,
        resolve_segment=resolve_segment,
        max_depth=max_depth,
        max_nodes=max_nodes,
        segment_id=segment_id,
    )
    return errors


async def prepare_segment(
    data: Any,
    catalog: Catalog,
    *,
    resolve_segment: ResolveSegment | None = None,
    max_depth: int = 12,
    max_nodes: int = 200,
    segment_id: int | None = None,
) -> ValidSegment:
    """A checked definition ready to compile; raises InvalidSegment with every error."""
    valid, errors = await check_definition(
        data,
        catalog,
        resolve_segment=resolve_segment,
        max_depth=max_depth,
        max_nodes=max_nodes,
        segment_id=segment_id,
    )
    if valid is None:
        raise InvalidSegment(errors)
    return valid
