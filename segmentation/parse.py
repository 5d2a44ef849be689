"""JSON definition -> tree (`tree.py`), reporting structural mistakes with their paths.

Catalog checks (fields, operators, value types) are `validate.py`'s job; this module only
checks shape: known keys, required keys, JSON types, choices, non-empty groups and size.
"""

from __future__ import annotations

from typing import Any

from segmentation.errors import InvalidSegment, SegmentError
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
    Group,
    Metric,
    Node,
    Not,
    Refine,
    Sample,
    SegmentRef,
    Sequence,
    Step,
    Window,
)

NODE_KINDS = (
    "and",
    "or",
    "not",
    "sequence",
    "contact",
    "event",
    "correlation",
    "segment",
    "sample",
)
WINDOW_KINDS = ("anytime", "after", "before", "between", "last")
UNITS = ("day", "week", "month", "year")
AGGREGATE_FNS = ("sum", "count", "min", "max", "avg")
CORRELATION_OPS = (
    "within",
    "within_after",
    "within_before",
    "more_than",
    "more_than_after",
    "more_than_before",
)
MISSING = object()


class _Parser:
    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.errors: list[SegmentError] = []
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.nodes = 0
        self.too_large = False

    # -- helpers -------------------------------------------------------------------------
    def error(self, path: str, message: str, code: str) -> None:
        self.errors.append(SegmentError(path, message, code))

    def obj(self, data: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(data, dict):
            self.error(path, f"expected an object, got {_json_type(data)}", "wrong_type")
            return None
        for key in data:
            if key not in allowed:
                self.error(
                    f"{path}.{key}",
                    f"unknown key {key!r}; expected one of {', '.join(allowed)}",
                    "unexpected_key",
                )
        return data

    def get(self, data: dict, key: str, path: str, kind: type | tuple, default: Any = MISSING):
        value = data.get(key, MISSING)
        if value is MISSING or (value is None and default is not MISSING):
            if default is MISSING:
                self.error(f"{path}.{key}", f"{key!r} is required", "required")
            return None if default is MISSING else default
        if not _is(value, kind):
            self.error(
                f"{path}.{key}",
                f"expected {_kind_name(kind)}, got {_json_type(value)}",
                "wrong_type",
            )
            return None
        return value

    def choice(self, data: dict, key: str, path: str, choices: tuple[str, ...], default=MISSING):
        value = self.get(data, key, path, str, default)
        if value is not None and value not in choices:
            self.error(
                f"{path}.{key}",
                f"{value!r} is not one of {', '.join(choices)}",
                "invalid_choice",
            )
            return None
        return value

    # -- definition ----------------------------------------------------------------------
    def definition(self, data: Any) -> Definition | None:
        top = self.obj(data, "definition", ("root", "refine"))
        if top is None:
            return None
        root = None
        if "root" not in top:
            self.error("root", "'root' is required", "required")
        else:
            root = self.node(top["root"], "root", 1)
        refine = self.refine(top["refine"], "refine") if top.get("refine") is not None else None
        if root is None or self.errors:
            return None
        return Definition(root=root, refine=refine)

    def node(self, data: Any, path: str, depth: int) -> Node | None:
        if depth > self.max_depth:
            self.error(path, f"the tree is deeper than {self.max_depth} levels", "too_deep")
            return None
        self.nodes += 1
        if self.nodes > self.max_nodes:
            if not self.too_large:
                self.too_large = True
                self.error(path, f"the tree has more than {self.max_nodes} nodes", "too_large")
            return None
        if not isinstance(data, dict):
            self.error(path, f"expected a node object, got {_json_type(data)}", "wrong_type")
            return None
        kinds = [k for k in data if k in NODE_KINDS]
        unknown = [k for k in data if k not in NODE_KINDS]
        for key in unknown:
            self.error(
                f"{path}.{key}",
                f"unknown node kind {key!r}; expected one of {', '.join(NODE_KINDS)}",
                "unexpected_key",
            )
        if len(kinds) != 1:
            if not unknown:
                self.error(
                    path,
                    f"a node has exactly one of {', '.join(NODE_KINDS)}; got {len(kinds)}",
                    "one_kind",
                )
            return None
        kind = kinds[0]
        return getattr(self, f"node_{kind}")(data[kind], f"{path}.{kind}", depth)

    def _children(self, data: Any, path: str, depth: int) -> tuple[Node, ...] | None:
        if not isinstance(data, list):
            self.error(path, f"expected a list of nodes, got {_json_type(data)}", "wrong_type")
            return None
        if not data:
            self.error(path, "a group needs at least one rule", "empty_group")
            return None
        children = [self.node(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(data)]
        if any(c is None for c in children):
            return None
        return tuple(children)  # type: ignore[arg-type]

    def node_and(self, data: Any, path: str, depth: int) -> Node | None:
        children = self._children(data, path, depth)
        return Group("and", children, path) if children else None

    def node_or(self, data: Any, path: str, depth: int) -> Node | None:
        children = self._children(data, path, depth)
        return Group("or", children, path) if children else None

    def node_not(self, data: Any, path: str, depth: int) -> Node | None:
        child = self.node(data, path, depth + 1)
        return Not(child, path) if child is not None else None

    def node_sequence(self, data: Any, path: str, depth: int) -> Node | None:
        if not isinstance(data, list):
            self.error(path, f"expected a list of steps, got {_json_type(data)}", "wrong_type")
            return None
        if not data:
            self.error(path, "a sequence needs at least one rule", "empty_group")
            return None
        first: Node | None = None
        steps: list[Step] = []
        ok = True
        for i, item in enumerate(data):
            step_path = f"{path}[{i}]"
            step = self.obj(item, step_path, ("join", "rule"))
            if step is None:
                ok = False
                continue
            if i == 0 and step.get("join") is not None:
                self.error(
                    f"{step_path}.join",
                    "the first rule of a sequence has no join",
                    "unexpected_key",
                )
                ok = False
            join = None if i == 0 else self.choice(step, "join", step_path, ("and", "or", "except"))
            if "rule" not in step:
                self.error(f"{step_path}.rule", "'rule' is required", "required")
                ok = False
                continue
            node = self.node(step["rule"], f"{step_path}.rule", depth + 1)
            if node is None or (i > 0 and join is None):
                ok = False
                continue
            if i == 0:
                first = node
            else:
                steps.append(Step(join, node, step_path))  # type: ignore[arg-type]
        if not ok or first is None:
            return None
        return Sequence(first, tuple(steps), path)

    def conditions(self, data: dict, path: str, key_name: str) -> tuple[Condition, ...] | None:
        items = self.get(data, "conditions", path, list, [])
        if items is None:
            return None
        result = []
        for i, item in enumerate(items):
            cpath = f"{path}.conditions[{i}]"
            self.nodes += 1
            cond = self.obj(item, cpath, (key_name, "op", "value"))
            if cond is None:
                continue
            key = self.get(cond, key_name, cpath, str)
            op = self.get(cond, "op", cpath, str)
            if key is not None and op is not None:
                result.append(Condition(key, op, cond.get("value"), cpath))
        if self.nodes > self.max_nodes and not self.too_large:
            self.too_large = True
            self.error(path, f"the tree has more than {self.max_nodes} nodes", "too_large")
        return tuple(result)

    def node_contact(self, data: Any, path: str, depth: int) -> Node | None:
        rule = self.obj(data, path, ("match", "conditions"))
        if rule is None:
            return None
        match = self.choice(rule, "match", path, ("all", "any"), "all")
        conditions = self.conditions(rule, path, "field")
        if conditions is not None and not rule.get("conditions"):
            self.error(f"{path}.conditions", "a contact rule needs conditions", "empty_group")
            return None
        if match is None or conditions is None:
            return None
        return ContactRule(match, conditions, path)

    def window(self, data: dict, path: str) -> Window | None:
        raw = data.get("window")
        wpath = f"{path}.window"
        if raw is None:
            return Window("anytime", path=wpath)
        win = self.obj(raw, wpath, WINDOW_KINDS)
        if win is None:
            return None
        kinds = [k for k in win if k in WINDOW_KINDS]
        if len(kinds) != 1:
            self.error(wpath, f"a window has exactly one of {', '.join(WINDOW_KINDS)}", "one_kind")
            return None
        kind = kinds[0]
        if kind == "anytime":
            if win[kind] is not True:
                self.error(f"{wpath}.anytime", "expected true", "wrong_type")
                return None
            return Window("anytime", path=wpath)
        if kind == "after":
            return Window("after", start=win[kind], path=wpath)
        if kind == "before":
            return Window("before", end=win[kind], path=wpath)
        if kind == "between":
            between = self.obj(win[kind], f"{wpath}.between", ("from", "to"))
            if between is None:
                return None
            start = self.get(between, "from", f"{wpath}.between", (str, dict))
            end = self.get(between, "to", f"{wpath}.between", (str, dict))
            if start is None or end is None:
                return None
            return Window("between", start=start, end=end, path=wpath)
        last = self.obj(win[kind], f"{wpath}.last", ("amount", "unit"))
        if last is None:
            return None
        amount = self.get(last, "amount", f"{wpath}.last", int)
        unit = self.choice(last, "unit", f"{wpath}.last", UNITS)
        if amount is not None and amount < 0:
            self.error(f"{wpath}.last.amount", "expected a number >= 0", "invalid_value")
            return None
        if amount is None or unit is None:
            return None
        return Window("last", amount=amount, unit=unit, path=wpath)

    def compare(self, data: Any, path: str, value_key: str) -> Compare | None:
        cmp = self.obj(data, path, ("op", value_key))
        if cmp is None:
            return None
        op = self.get(cmp, "op", path, str)
        if value_key not in cmp:
            self.error(f"{path}.{value_key}", f"{value_key!r} is required", "required")
            return None
        return Compare(op, cmp[value_key], path) if op is not None else None

    def aggregate(self, data: Any, path: str) -> Aggregate | None:
        agg = self.obj(data, path, ("fn", "of", "op", "value"))
        if agg is None:
            return None
        fn = self.choice(agg, "fn", path, AGGREGATE_FNS)
        of = self.get(agg, "of", path, str, VALUE_PROPERTY)
        op = self.get(agg, "op", path, str)
        if "value" not in agg:
            self.error(f"{path}.value", "'value' is required", "required")
            return None
        if fn is None or of is None or op is None:
            return None
        return Aggregate(fn, of, op, agg["value"], path)

    def node_event(self, data: Any, path: str, depth: int) -> Node | None:
        keys = ("type", "have", "match", "conditions", "window", "count", "aggregate", "share")
        rule = self.obj(data, path, keys)
        if rule is None:
            return None
        before = len(self.errors)
        event_type = self.get(rule, "type", path, str)
        have = self.get(rule, "have", path, bool, True)
        match = self.choice(rule, "match", path, ("all", "any"), "all")
        conditions = self.conditions(rule, path, "property")
        window = self.window(rule, path)
        count = self.compare(rule["count"], f"{path}.count", "value") if "count" in rule else None
        aggregate = (
            self.aggregate(rule["aggregate"], f"{path}.aggregate") if "aggregate" in rule else None
        )
        share = self.compare(rule["share"], f"{path}.share", "percent") if "share" in rule else None
        if share is not None and not conditions:
            self.error(
                f"{path}.share",
                "a % threshold needs conditions (the share of events meeting them)",
                "invalid_value",
            )
        if len(self.errors) > before:
            return None
        return EventRule(
            event_type,
            have,
            match,
            conditions,
            window,
            count,
            aggregate,
            share,
            path,  # type: ignore[arg-type]
        )

    def pick(self, data: Any, path: str) -> EventPick | None:
        pick = self.obj(data, path, ("type", "occurrence", "match", "conditions", "window"))
        if pick is None:
            return None
        before = len(self.errors)
        event_type = self.get(pick, "type", path, str)
        occurrence = self.choice(pick, "occurrence", path, ("first", "last"), "first")
        match = self.choice(pick, "match", path, ("all", "any"), "all")
        conditions = self.conditions(pick, path, "property")
        window = self.window(pick, path)
        if len(self.errors) > before:
            return None
        return EventPick(event_type, match, conditions, window, occurrence, path)  # type: ignore[arg-type]

    def node_correlation(self, data: Any, path: str, depth: int) -> Node | None:
        corr = self.obj(data, path, ("first", "second", "op", "days"))
        if corr is None:
            return None
        before = len(self.errors)
        first = self.pick(corr["first"], f"{path}.first") if "first" in corr else None
        second = self.pick(corr["second"], f"{path}.second") if "second" in corr else None
        for key in ("first", "second"):
            if key not in corr:
                self.error(f"{path}.{key}", f"{key!r} is required", "required")
        op = self.choice(corr, "op", path, CORRELATION_OPS)
        days = self.get(corr, "days", path, int)
        if days is not None and days < 0:
            self.error(f"{path}.days", "expected a number of days >= 0", "invalid_value")
        if len(self.errors) > before:
            return None
        return Correlation(first, second, op, days, path)  # type: ignore[arg-type]

    def node_segment(self, data: Any, path: str, depth: int) -> Node | None:
        ref = self.obj(data, path, ("id", "in"))
        if ref is None:
            return None
        segment_id = self.get(ref, "id", path, int)
        include = self.get(ref, "in", path, bool, True)
        if segment_id is None or include is None:
            return None
        return SegmentRef(segment_id, include, path)

    def node_sample(self, data: Any, path: str, depth: int) -> Node | None:
        sample = self.obj(data, path, ("seed", "buckets", "from", "to"))
        if sample is None:
            return None
        before = len(self.errors)
        seed = self.get(sample, "seed", path, str, "")
        buckets = self.get(sample, "buckets", path, int, 100)
        start = self.get(sample, "from", path, int)
        end = self.get(sample, "to", path, int)
        if len(self.errors) > before:
            return None
        if not 1 <= buckets <= 1_000_000:
            self.error(f"{path}.buckets", "expected 1 to 1000000 buckets", "invalid_value")
        elif not 0 <= start <= end <= buckets:
            self.error(path, f"expected 0 <= from <= to <= buckets ({buckets})", "invalid_value")
        if len(self.errors) > before:
            return None
        return Sample(seed, buckets, start, end, path)

    def refine(self, data: Any, path: str) -> Refine | None:
        ref = self.obj(data, path, ("order", "limit", "metric"))
        if ref is None:
            return None
        before = len(self.errors)
        order = self.choice(ref, "order", path, ("top", "least"))
        limit = self.get(ref, "limit", path, int)
        if limit is not None and limit < 0:
            self.error(f"{path}.limit", "expected a number >= 0", "invalid_value")
        metric = None
        mpath = f"{path}.metric"
        if "metric" not in ref:
            self.error(mpath, "'metric' is required", "required")
        else:
            m = self.obj(ref["metric"], mpath, ("type", "fn", "of", "window"))
            if m is not None:
                event_type = self.get(m, "type", mpath, str)
                fn = self.choice(m, "fn", mpath, AGGREGATE_FNS)
                of = self.get(m, "of", mpath, str, VALUE_PROPERTY)
                window = self.window(m, mpath)
                if event_type and fn and of and window:
                    metric = Metric(event_type, fn, of, window, mpath)  # type: ignore[arg-type]
        if len(self.errors) > before:
            return None
        return Refine(order, limit, metric, path)  # type: ignore[arg-type]


def parse_tree(
    data: Any, *, max_depth: int = 12, max_nodes: int = 200
) -> tuple[Definition | None, list[SegmentError]]:
    """Parse a JSON definition; return the tree (None when invalid) and the structural errors."""
    parser = _Parser(max_depth, max_nodes)
    definition = parser.definition(data)
    return (definition if not parser.errors else None), parser.errors


def parse_definition(data: Any, *, max_depth: int = 12, max_nodes: int = 200) -> Definition:
    """Parse a JSON definition into a tree; raise InvalidSegment listing structural errors."""
    definition, errors = parse_tree(data, max_depth=max_depth, max_nodes=max_nodes)
    if errors or definition is None:
        raise InvalidSegment(errors)
    return definition


def _is(value: Any, kind: type | tuple) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _kind_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    list: "a list",
    dict: "an object",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
