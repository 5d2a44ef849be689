"""The segment tree: one frozen dataclass per node kind (see README.md for the JSON form).

Values stay as the JSON the user sent (`raw`); `values.py` turns them into typed Python
values against an as-of time, so the SQL compiler and the reference evaluator share them.
Every node carries the path of the JSON it came from, for errors and explain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Match = Literal["all", "any"]
Join = Literal["and", "or", "except"]
Occurrence = Literal["first", "last"]

VALUE_PROPERTY = "$value"  # the event's own numeric value column (order amount, line amount...)


@dataclass(frozen=True)
class Condition:
    """`key op value`: key is a catalog field (contact rules) or an event property."""

    key: str
    op: str
    value: Any
    path: str


@dataclass(frozen=True)
class Window:
    """When events count: anytime, after / before / between dates, or the last N units."""

    kind: Literal["anytime", "after", "before", "between", "last"]
    start: Any = None  # raw date for after / between
    end: Any = None  # raw date for before / between
    amount: int | None = None  # for last
    unit: str | None = None  # day | week | month | year
    path: str = ""


@dataclass(frozen=True)
class Compare:
    """`<measure> op value`, e.g. count >= 3 or share >= 10 (percent)."""

    op: str
    value: Any
    path: str


@dataclass(frozen=True)
class Aggregate:
    """`fn(of) op value` over the matching events, e.g. sum($value) > 500."""

    fn: Literal["sum", "count", "min", "max", "avg"]
    of: str
    op: str
    value: Any
    path: str


@dataclass(frozen=True)
class ContactRule:
    """Conditions on contact fields joined by match all / any."""

    match: Match
    conditions: tuple[Condition, ...]
    path: str


@dataclass(frozen=True)
class EventRule:
    """Have (not) events of one type, in a window, meeting conditions, with optional tests."""

    event_type: str
    have: bool
    match: Match
    conditions: tuple[Condition, ...]
    window: Window
    count: Compare | None
    aggregate: Aggregate | None
    share: Compare | None  # percent of the type's events in the window that meet the conditions
    path: str


@dataclass(frozen=True)
class EventPick:
    """The first or last occurrence of events of one type meeting conditions (correlations)."""

    event_type: str
    match: Match
    conditions: tuple[Condition, ...]
    window: Window
    occurrence: Occurrence
    path: str


@dataclass(frozen=True)
class Correlation:
    """Time between an occurrence of `first` and one of `second`, compared with N days."""

    first: EventPick
    second: EventPick
    op: str
    days: Any
    path: str


@dataclass(frozen=True)
class SegmentRef:
    """Membership (or not) of another segment of the same database."""

    segment_id: int
    include: bool
    path: str


@dataclass(frozen=True)
class Sample:
    """A deterministic bucket of the contact id: bucket(seed, id) in [start, end) of `buckets`."""

    seed: str
    buckets: int
    start: int
    end: int
    path: str


@dataclass(frozen=True)
class Group:
    """AND / OR of children."""

    op: Literal["and", "or"]
    children: tuple[Node, ...]
    path: str


@dataclass(frozen=True)
class Not:
    """Negation of one child."""

    child: Node
    path: str


@dataclass(frozen=True)
class Step:
    """One step of a flat sequence: `join` the accumulated result with `node`."""

    join: Join
    node: Node
    path: str


@dataclass(frozen=True)
class Sequence:
    """The original product's flat form: rules combined strictly left to right."""

    first: Node
    steps: tuple[Step, ...]
    path: str


Node = Group | Not | Sequence | ContactRule | EventRule | Correlation | SegmentRef | Sample


@dataclass(frozen=True)
class Metric:
    """An aggregate of one event type's events per contact, for refinement."""

    event_type: str
    fn: Literal["sum", "count", "min", "max", "avg"]
    of: str
    window: Window
    path: str


@dataclass(frozen=True)
class Refine:
    """Keep only the top / least N members by a metric (ties: lower contact id first)."""

    order: Literal["top", "least"]
    limit: int
    metric: Metric
    path: str


@dataclass(frozen=True)
class Definition:
    """A whole segment definition: a condition tree and an optional refinement."""

    root: Node
    refine: Refine | None = None


def children_of(node: Node) -> tuple[Node, ...]:
    """Direct child nodes (for walking the tree)."""
    if isinstance(node, Group):
        return node.children
    if isinstance(node, Not):
        return (node.child,)
    if isinstance(node, Sequence):
        return (node.first, *(s.node for s in node.steps))
    return ()


def walk(node: Node):
    """Every node of a tree, parents first."""
    yield node
    for child in children_of(node):
        yield from walk(child)
