"""Segment definitions as typed GraphQL objects and `@oneOf` inputs.

Both mirror the JSON format of segmentation/README.md key for key (`and`, `or`, `not`,
`sequence`, `contact`, `event`, `correlation`, `segment`, `sample`), so a validation error
at `root.and[1].contact.conditions[0].value` names the same place in either input form.
Outputs are read from the stored JSON; inputs turn back into it with `input_json`.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.relay.types import GlobalIDValueError
from strawberry.scalars import JSON

from permissions.errors import InputError
from schema.base import Info
from schema.relay import GlobalID, global_id

if TYPE_CHECKING:
    from schema.segments import Segment


@strawberry.enum(description="How the conditions of a rule combine.")
class MatchMode(Enum):
    ALL = strawberry.enum_value("all", description="Every condition must hold.")
    ANY = strawberry.enum_value("any", description="At least one condition must hold.")


@strawberry.enum(description="How a step of a sequence joins the result so far.")
class SequenceJoin(Enum):
    AND = strawberry.enum_value("and", description="Both the result so far and the rule.")
    OR = strawberry.enum_value("or", description="The result so far or the rule.")
    EXCEPT = strawberry.enum_value(
        "except", description="The result so far minus the rule's members."
    )


@strawberry.enum(description="A calendar unit for relative periods.")
class PeriodUnit(Enum):
    DAY = strawberry.enum_value("day", description="Days.")
    WEEK = strawberry.enum_value("week", description="Weeks.")
    MONTH = strawberry.enum_value("month", description="Calendar months (month ends clamp).")
    YEAR = strawberry.enum_value("year", description="Years.")


@strawberry.enum(description="Which occurrence of matching events a correlation uses.")
class Occurrence(Enum):
    FIRST = strawberry.enum_value("first", description="The earliest matching event.")
    LAST = strawberry.enum_value("last", description="The latest matching event.")


@strawberry.enum(description="An aggregate over a contact's matching events.")
class AggregateFunction(Enum):
    SUM = strawberry.enum_value("sum", description="Sum of the property.")
    COUNT = strawberry.enum_value("count", description="Number of events.")
    MIN = strawberry.enum_value("min", description="Smallest value.")
    MAX = strawberry.enum_value("max", description="Largest value.")
    AVG = strawberry.enum_value("avg", description="Average value.")


@strawberry.enum(
    description="Time between two occurrences (a = first's, b = second's): WITHIN |a-b| <= N "
    "days, WITHIN_AFTER 0 <= a-b <= N, WITHIN_BEFORE 0 <= b-a <= N, MORE_THAN |a-b| > N, "
    "MORE_THAN_AFTER a-b > N, MORE_THAN_BEFORE b-a > N."
)
class CorrelationOperator(Enum):
    WITHIN = strawberry.enum_value("within", description="|a-b| <= N days.")
    WITHIN_AFTER = strawberry.enum_value(
        "within_after", description="0 <= a-b <= N days (first within N days after second)."
    )
    WITHIN_BEFORE = strawberry.enum_value(
        "within_before", description="0 <= b-a <= N days (first within N days before second)."
    )
    MORE_THAN = strawberry.enum_value("more_than", description="|a-b| > N days.")
    MORE_THAN_AFTER = strawberry.enum_value("more_than_after", description="a-b > N days.")
    MORE_THAN_BEFORE = strawberry.enum_value("more_than_before", description="b-a > N days.")


@strawberry.enum(description="Keep the members with the highest (TOP) or lowest (LEAST) metric.")
class RefineOrder(Enum):
    TOP = strawberry.enum_value("top", description="Highest metric first.")
    LEAST = strawberry.enum_value("least", description="Lowest metric first.")


OP_DESCRIPTION = (
    "Operator: eq, neq, like, not_like, starts_with, ends_with, is_null, is_not_null, gt, lt, "
    "gte, lte, between, date_equals, month_equals, year_equals, day_equals, "
    "anniversary_within, contains_any, contains_all, contains_none (allowed per data type: "
    "see the catalog's operators)."
)
VALUE_DESCRIPTION = (
    "The value: a string, number, boolean, list, or a relative date "
    '{"relative": {"amount": -30, "unit": "day"}}; none for is_null / is_not_null.'
)
DATE_DESCRIPTION = 'A date "YYYY-MM-DD" or a relative date {"relative": {...}}.'
AND_DESCRIPTION = "All of these nodes hold (at least one node)."
OR_DESCRIPTION = "At least one of these nodes holds (at least one node)."
NOT_DESCRIPTION = (
    "Negation: holds for every contact this node does not hold for (a contact whose value is "
    "null fails a condition, so it passes the condition's negation)."
)
SEQUENCE_DESCRIPTION = (
    "Rules combined strictly left to right, the original flat form: `r1 AND r2 EXCEPT r3` "
    "is ((r1 AND r2) EXCEPT r3); the first step has no join."
)
CONTACT_NODE_DESCRIPTION = (
    "A demographic rule: conditions on contact fields of the catalog, e.g. "
    '{conditions: [{field: "country", op: "eq", value: ["IT"]}]} (GraphQL input syntax).'
)
EVENT_RULE_DESCRIPTION = (
    "An event rule: the contact has (or, with have false, has not) events of one type that "
    "meet the conditions in the window, and every test given (count, aggregate, share) holds. "
    "Without tests one such event suffices; a contact with no events counts 0."
)
EVENT_NODE_DESCRIPTION = (
    f"{EVENT_RULE_DESCRIPTION} E.g. spent over 500 in the last 90 days: "
    '{type: "purchase", window: {last: {amount: 90, unit: DAY}}, '
    'aggregate: {fn: SUM, op: "gt", value: 500}}.'
)
CORRELATION_NODE_DESCRIPTION = (
    "A correlation: the time between one occurrence of two event rules compared with N days, "
    "e.g. bought within 5 days after first opening an email: first purchase, second "
    "email_opened (occurrence FIRST), op WITHIN_AFTER, days 5. A contact lacking either "
    "occurrence does not match."
)
SEGMENT_NODE_DESCRIPTION = (
    "(Not) being a member of another live segment of the same database (a combined "
    "segment); a reference back to the segment itself, directly or not, is a CYCLE."
)
SAMPLE_NODE_DESCRIPTION = (
    "A deterministic sample of contacts (control groups, A/B splits): a 32-bit hash of "
    "(contact id, seed) modulo buckets falls in [from, to). E.g. a 10 % control group: "
    'seed "q4", buckets 100, from 0, to 10; the other 90 %: from 10, to 100.'
)
EVENT_TYPE_DESCRIPTION = "Catalog event type key, e.g. purchase, purchase_line, email_opened."
HAVE_DESCRIPTION = (
    "true (the default): the contact must have such events; false: must NOT have them "
    '("have not"), i.e. the whole rule, tests included, is negated.'
)
MATCH_DESCRIPTION = "Whether ALL (the default) or ANY of the conditions must hold."
EVENT_CONDITIONS_DESCRIPTION = (
    "Conditions on the event's properties; none (the default): every event of the type."
)
WINDOW_DESCRIPTION = "When the events count; default: any time."
COMPARISON_OP_DESCRIPTION = "Comparison operator: eq, neq, gt, gte, lt, lte or between."
COUNT_DESCRIPTION = (
    'Test on the number of events meeting the conditions, e.g. {op: "gte", value: 3}; '
    '{op: "lt", value: 1} also matches contacts with no events.'
)
AGGREGATE_DESCRIPTION = (
    "Test on an aggregate of a numeric property over the events meeting the conditions, "
    'e.g. {fn: SUM, of: "$value", op: "gt", value: 500}. sum and count of no events '
    "are 0; min, max and avg of no events never match."
)
SHARE_DESCRIPTION = (
    "Percentage threshold: the events meeting the conditions as a percentage (0-100) of all "
    "the contact's events of the type in the window, e.g. at least 10 % of order lines are "
    'shoes: {op: "gte", percent: 10}. Needs conditions; no events never matches.'
)
OF_DESCRIPTION = (
    "The numeric property aggregated; default $value (the event's numeric value, e.g. the "
    "order amount)."
)
DAYS_DESCRIPTION = "N, in days (>= 0), e.g. 5."
IN_DESCRIPTION = "true (the default): a member of it; false: NOT a member of it."
SEED_DESCRIPTION = "Seed of the hash: the same seed always gives the same buckets, e.g. q4."
BUCKETS_DESCRIPTION = "Number of buckets the contacts are hashed into; default 100."
FROM_DESCRIPTION = "First bucket kept (0-based, included)."
TO_DESCRIPTION = "Bucket after the last kept (excluded): buckets kept are [from, to)."
WINDOW_TYPE_DESCRIPTION = (
    "When events count; exactly one field is set. Days are local calendar days of the "
    "database's time zone."
)
ANYTIME_DESCRIPTION = "true: events of any time (the default window)."
AFTER_DESCRIPTION = f"From this day's midnight on. {DATE_DESCRIPTION}"
BEFORE_DESCRIPTION = f"Until this day's midnight (the day excluded). {DATE_DESCRIPTION}"
BETWEEN_DESCRIPTION = "Between two days, both included."
LAST_DESCRIPTION = (
    "In the last N units before the as-of time, e.g. the last 90 days: amount 90, unit DAY."
)
METRIC_FN_DESCRIPTION = (
    "The aggregate, e.g. SUM (SUM and COUNT of nothing are 0; MIN/MAX/AVG of nothing sort last)."
)
LIMIT_DESCRIPTION = "How many members are kept at most (ties: lower contact id first)."


def _enum(cls: type[Enum], value: Any, default: str) -> Any:
    try:
        return cls(value if value is not None else default)
    except ValueError:
        return cls(default)


# ---- outputs ---------------------------------------------------------------------------


@strawberry.type(description="A condition on a contact field: `field op value`.")
class ContactCondition:
    field: str = strawberry.field(description="Catalog field key, e.g. country.")
    op: str = strawberry.field(description=OP_DESCRIPTION)
    value: JSON | None = strawberry.field(description=VALUE_DESCRIPTION)


@strawberry.type(description="A condition on an event property: `property op value`.")
class EventCondition:
    property: str = strawberry.field(
        description="Property key of the event type, or $value (the event's numeric value)."
    )
    op: str = strawberry.field(description=OP_DESCRIPTION)
    value: JSON | None = strawberry.field(description=VALUE_DESCRIPTION)


@strawberry.type(description="An inclusive range of local calendar days.")
class DateRange:
    from_: JSON = strawberry.field(name="from", description=f"First day. {DATE_DESCRIPTION}")
    to: JSON = strawberry.field(description=f"Last day. {DATE_DESCRIPTION}")


@strawberry.type(description="The last N units before the as-of time.")
class LastPeriod:
    amount: int = strawberry.field(description="How many units (>= 0), e.g. 90.")
    unit: PeriodUnit = strawberry.field(description="The unit (DST-aware; month ends clamp).")


@strawberry.type(description=WINDOW_TYPE_DESCRIPTION)
class TimeWindow:
    anytime: bool | None = strawberry.field(description=ANYTIME_DESCRIPTION)
    after: JSON | None = strawberry.field(description=AFTER_DESCRIPTION)
    before: JSON | None = strawberry.field(description=BEFORE_DESCRIPTION)
    between: DateRange | None = strawberry.field(description=BETWEEN_DESCRIPTION)
    last: LastPeriod | None = strawberry.field(description=LAST_DESCRIPTION)

    @classmethod
    def from_json(cls, data: Any) -> TimeWindow:
        """The window of a stored rule (anytime when absent)."""
        data = data if isinstance(data, dict) else {"anytime": True}
        between = data.get("between")
        last = data.get("last")
        return cls(
            anytime=data.get("anytime"),
            after=data.get("after"),
            before=data.get("before"),
            between=DateRange(from_=between.get("from"), to=between.get("to"))
            if isinstance(between, dict)
            else None,
            last=LastPeriod(
                amount=last.get("amount", 0), unit=_enum(PeriodUnit, last.get("unit"), "day")
            )
            if isinstance(last, dict)
            else None,
        )


@strawberry.type(description="A test on a number of events or a percentage: `op value`.")
class Comparison:
    op: str = strawberry.field(description="Comparison operator (gt, gte, lt, lte, eq, ...).")
    value: JSON = strawberry.field(description="The number (or [low, high] for between).")


@strawberry.type(description="A test on an aggregate of the matching events: `fn(of) op value`.")
class AggregateTest:
    fn: AggregateFunction = strawberry.field(description="The aggregate, e.g. SUM.")
    of: str = strawberry.field(description=OF_DESCRIPTION)
    op: str = strawberry.field(description=COMPARISON_OP_DESCRIPTION)
    value: JSON = strawberry.field(description="The number compared with (in the property's unit).")


@strawberry.type(description="A demographic rule: conditions on contact fields.")
class ContactRule:
    match: MatchMode = strawberry.field(description="ALL or ANY of the conditions.")
    conditions: list[ContactCondition] = strawberry.field(
        description="The conditions on contact fields."
    )


@strawberry.type(description=EVENT_RULE_DESCRIPTION)
class EventRule:
    type: str = strawberry.field(description=EVENT_TYPE_DESCRIPTION)
    have: bool = strawberry.field(description=HAVE_DESCRIPTION)
    match: MatchMode = strawberry.field(description=MATCH_DESCRIPTION)
    conditions: list[EventCondition] = strawberry.field(description=EVENT_CONDITIONS_DESCRIPTION)
    window: TimeWindow = strawberry.field(description=WINDOW_DESCRIPTION)
    count: Comparison | None = strawberry.field(description=COUNT_DESCRIPTION)
    aggregate: AggregateTest | None = strawberry.field(description=AGGREGATE_DESCRIPTION)
    share: Comparison | None = strawberry.field(
        description=f"{SHARE_DESCRIPTION} Here `value` is the percent."
    )


@strawberry.type(description="The first or last occurrence of matching events (correlations).")
class EventPick:
    type: str = strawberry.field(description=EVENT_TYPE_DESCRIPTION)
    occurrence: Occurrence = strawberry.field(description="Which matching event's time is used.")
    match: MatchMode = strawberry.field(description=MATCH_DESCRIPTION)
    conditions: list[EventCondition] = strawberry.field(description=EVENT_CONDITIONS_DESCRIPTION)
    window: TimeWindow = strawberry.field(description=WINDOW_DESCRIPTION)


@strawberry.type(description="Time between occurrences of two event rules, compared with N days.")
class CorrelationRule:
    first: EventPick = strawberry.field(description="The first event rule (a).")
    second: EventPick = strawberry.field(description="The second event rule (b).")
    op: CorrelationOperator = strawberry.field(description="How a and b compare.")
    days: int = strawberry.field(description=DAYS_DESCRIPTION)


@strawberry.type(description="(Not) being a member of another segment of the same database.")
class SegmentReference:
    segment_id: GlobalID = strawberry.field(
        description="The referenced Segment's global id. Segment.definitionJson stores the "
        "plain segment number under `id` instead (the number inside this global id)."
    )
    in_: bool = strawberry.field(name="in", description=IN_DESCRIPTION)
    pk: strawberry.Private[int]

    @strawberry.field(description="The referenced segment; null if deleted or not visible.")
    async def segment(
        self, info: Info
    ) -> Annotated[Segment, strawberry.lazy("schema.segments")] | None:
        from schema.segments import Segment

        return await Segment.load(info, self.pk)


@strawberry.type(description="A deterministic bucket of the contact id (control groups, splits).")
class SampleRule:
    seed: str = strawberry.field(description=SEED_DESCRIPTION)
    buckets: int = strawberry.field(description=BUCKETS_DESCRIPTION)
    from_: int = strawberry.field(name="from", description=FROM_DESCRIPTION)
    to: int = strawberry.field(description=TO_DESCRIPTION)


@strawberry.type(description="One step of a sequence: join the result so far with a rule.")
class SequenceStep:
    join: SequenceJoin | None = strawberry.field(
        description="How the rule joins the result so far; null for the first step."
    )
    rule: DefinitionNode = strawberry.field(description="The rule (any node kind).")


@strawberry.type(
    description="A node of a condition tree; exactly one of the kind fields is set (the same "
    "keys as the JSON format)."
)
class DefinitionNode:
    path: str = strawberry.field(
        description="Where the node is in the tree, e.g. root.and[1].contact: the same path "
        "as in validation errors and in explain."
    )
    and_: list[DefinitionNode] | None = strawberry.field(name="and", description=AND_DESCRIPTION)
    or_: list[DefinitionNode] | None = strawberry.field(name="or", description=OR_DESCRIPTION)
    not_: DefinitionNode | None = strawberry.field(name="not", description=NOT_DESCRIPTION)
    sequence: list[SequenceStep] | None = strawberry.field(description=SEQUENCE_DESCRIPTION)
    contact: ContactRule | None = strawberry.field(description=CONTACT_NODE_DESCRIPTION)
    event: EventRule | None = strawberry.field(description=EVENT_NODE_DESCRIPTION)
    correlation: CorrelationRule | None = strawberry.field(description=CORRELATION_NODE_DESCRIPTION)
    segment: SegmentReference | None = strawberry.field(description=SEGMENT_NODE_DESCRIPTION)
    sample: SampleRule | None = strawberry.field(description=SAMPLE_NODE_DESCRIPTION)

    @classmethod
    def from_json(cls, data: Any, path: str = "root") -> DefinitionNode:
        """A stored node (valid JSON format) as a typed object."""
        data = data if isinstance(data, dict) else {}
        kind = next(iter(data), "")
        body = data.get(kind)
        here = f"{path}.{kind}" if path else kind
        node = cls(
            path=here, and_=None, or_=None, not_=None, sequence=None, contact=None,
            event=None, correlation=None, segment=None, sample=None,
        )  # fmt: skip
        if kind in ("and", "or"):
            children = [cls.from_json(c, f"{here}[{i}]") for i, c in enumerate(body or [])]
            setattr(node, f"{kind}_", children)
        elif kind == "not":
            node.not_ = cls.from_json(body, here)
        elif kind == "sequence":
            node.sequence = [
                SequenceStep(
                    join=SequenceJoin(s["join"]) if s.get("join") else None,
                    rule=cls.from_json(s.get("rule"), f"{here}[{i}].rule"),
                )
                for i, s in enumerate(body or [])
            ]
        elif kind == "contact":
            node.contact = ContactRule(
                match=_enum(MatchMode, body.get("match"), "all"),
                conditions=[
                    ContactCondition(
                        field=c.get("field", ""), op=c.get("op", ""), value=c.get("value")
                    )
                    for c in body.get("conditions") or []
                ],
            )
        elif kind == "event":
            node.event = _event_rule(body)
        elif kind == "correlation":
            node.correlation = CorrelationRule(
                first=_pick(body.get("first")),
                second=_pick(body.get("second")),
                op=_enum(CorrelationOperator, body.get("op"), "within"),
                days=body.get("days", 0),
            )
        elif kind == "segment":
            pk = int(body.get("id", 0))
            node.segment = SegmentReference(
                segment_id=global_id("Segment", pk), in_=body.get("in", True), pk=pk
            )
        elif kind == "sample":
            node.sample = SampleRule(
                seed=body.get("seed", ""),
                buckets=body.get("buckets", 100),
                from_=body.get("from", 0),
                to=body.get("to", 0),
            )
        return node


def _conditions(items: Any) -> list[EventCondition]:
    return [
        EventCondition(property=c.get("property", ""), op=c.get("op", ""), value=c.get("value"))
        for c in items or []
    ]


def _comparison(data: Any, key: str) -> Comparison | None:
    return Comparison(op=data.get("op", ""), value=data.get(key)) if data else None


def _event_rule(body: dict[str, Any]) -> EventRule:
    agg = body.get("aggregate")
    return EventRule(
        type=body.get("type", ""),
        have=body.get("have", True),
        match=_enum(MatchMode, body.get("match"), "all"),
        conditions=_conditions(body.get("conditions")),
        window=TimeWindow.from_json(body.get("window")),
        count=_comparison(body.get("count"), "value"),
        aggregate=AggregateTest(
            fn=_enum(AggregateFunction, agg.get("fn"), "sum"),
            of=agg.get("of", "$value"),
            op=agg.get("op", ""),
            value=agg.get("value"),
        )
        if agg
        else None,
        share=_comparison(body.get("share"), "percent"),
    )


def _pick(body: Any) -> EventPick:
    body = body or {}
    return EventPick(
        type=body.get("type", ""),
        occurrence=_enum(Occurrence, body.get("occurrence"), "first"),
        match=_enum(MatchMode, body.get("match"), "all"),
        conditions=_conditions(body.get("conditions")),
        window=TimeWindow.from_json(body.get("window")),
    )


@strawberry.type(description="Which metric ranks the members of a refinement.")
class RefineMetric:
    type: str = strawberry.field(description=EVENT_TYPE_DESCRIPTION)
    fn: AggregateFunction = strawberry.field(description=METRIC_FN_DESCRIPTION)
    of: str = strawberry.field(description=OF_DESCRIPTION)
    window: TimeWindow = strawberry.field(description=WINDOW_DESCRIPTION)


@strawberry.type(description="Keep only the top / least N members by a metric.")
class Refinement:
    order: RefineOrder = strawberry.field(description="Highest (TOP) or lowest (LEAST) first.")
    limit: int = strawberry.field(description=LIMIT_DESCRIPTION)
    metric: RefineMetric = strawberry.field(description="The metric members are ranked by.")


@strawberry.type(description="A segment definition: a condition tree and an optional refinement.")
class SegmentDefinition:
    root: DefinitionNode = strawberry.field(description="The condition tree (its root node).")
    refine: Refinement | None = strawberry.field(description="Applied after the conditions.")

    @classmethod
    def from_json(cls, data: Any) -> SegmentDefinition:
        """A stored definition as typed objects."""
        data = data if isinstance(data, dict) else {}
        refine = data.get("refine")
        metric = (refine or {}).get("metric") or {}
        return cls(
            root=DefinitionNode.from_json(data.get("root")),
            refine=Refinement(
                order=_enum(RefineOrder, refine.get("order"), "top"),
                limit=refine.get("limit", 0),
                metric=RefineMetric(
                    type=metric.get("type", ""),
                    fn=_enum(AggregateFunction, metric.get("fn"), "sum"),
                    of=metric.get("of", "$value"),
                    window=TimeWindow.from_json(metric.get("window")),
                ),
            )
            if refine
            else None,
        )


# ---- inputs ----------------------------------------------------------------------------

UNSET: Any = strawberry.UNSET


@strawberry.input(description="A condition on a contact field: `field op value`.")
class ContactConditionInput:
    field: str = strawberry.field(description="Catalog field key, e.g. country.")
    op: str = strawberry.field(description=OP_DESCRIPTION)
    value: JSON | None = strawberry.field(default=UNSET, description=VALUE_DESCRIPTION)


@strawberry.input(description="A condition on an event property: `property op value`.")
class EventConditionInput:
    property: str = strawberry.field(
        description="Property key of the event type (e.g. category), or $value: the "
        "event's numeric value (order amount, line amount)."
    )
    op: str = strawberry.field(description=OP_DESCRIPTION)
    value: JSON | None = strawberry.field(default=UNSET, description=VALUE_DESCRIPTION)


@strawberry.input(description="An inclusive range of local calendar days.")
class DateRangeInput:
    from_: JSON = strawberry.field(name="from", description=f"First day. {DATE_DESCRIPTION}")
    to: JSON = strawberry.field(description=f"Last day. {DATE_DESCRIPTION}")


@strawberry.input(description="The last N units before the as-of time.")
class LastPeriodInput:
    amount: int = strawberry.field(description="How many units (>= 0), e.g. 90.")
    unit: PeriodUnit = strawberry.field(description="The unit (DST-aware; month ends clamp).")


@strawberry.input(one_of=True, description=WINDOW_TYPE_DESCRIPTION)
class TimeWindowInput:
    anytime: bool | None = strawberry.field(default=UNSET, description=ANYTIME_DESCRIPTION)
    after: JSON | None = strawberry.field(default=UNSET, description=AFTER_DESCRIPTION)
    before: JSON | None = strawberry.field(default=UNSET, description=BEFORE_DESCRIPTION)
    between: DateRangeInput | None = strawberry.field(
        default=UNSET, description=BETWEEN_DESCRIPTION
    )
    last: LastPeriodInput | None = strawberry.field(default=UNSET, description=LAST_DESCRIPTION)


@strawberry.input(description=COUNT_DESCRIPTION)
class CountTestInput:
    op: str = strawberry.field(description=COMPARISON_OP_DESCRIPTION)
    value: JSON = strawberry.field(
        description="The number of events, e.g. 3 (or [low, high] for between, inclusive)."
    )


@strawberry.input(description=SHARE_DESCRIPTION)
class ShareTestInput:
    op: str = strawberry.field(description=COMPARISON_OP_DESCRIPTION)
    percent: JSON = strawberry.field(
        description="The percentage, 0-100 (10 = 10 %), e.g. 10 (or [low, high] for between)."
    )


@strawberry.input(description=AGGREGATE_DESCRIPTION)
class AggregateTestInput:
    fn: AggregateFunction = strawberry.field(description="The aggregate, e.g. SUM.")
    of: str | None = strawberry.field(default=UNSET, description=OF_DESCRIPTION)
    op: str = strawberry.field(description=COMPARISON_OP_DESCRIPTION)
    value: JSON = strawberry.field(
        description="The number compared with, in the property's unit (e.g. 500 for an "
        "amount); [low, high] for between."
    )


@strawberry.input(description=CONTACT_NODE_DESCRIPTION)
class ContactRuleInput:
    match: MatchMode | None = strawberry.field(default=UNSET, description=MATCH_DESCRIPTION)
    conditions: list[ContactConditionInput] = strawberry.field(
        description="The conditions on contact fields (at least one)."
    )


@strawberry.input(description=EVENT_RULE_DESCRIPTION)
class EventRuleInput:
    type: str = strawberry.field(description=EVENT_TYPE_DESCRIPTION)
    have: bool | None = strawberry.field(default=UNSET, description=HAVE_DESCRIPTION)
    match: MatchMode | None = strawberry.field(default=UNSET, description=MATCH_DESCRIPTION)
    conditions: list[EventConditionInput] | None = strawberry.field(
        default=UNSET, description=EVENT_CONDITIONS_DESCRIPTION
    )
    window: TimeWindowInput | None = strawberry.field(default=UNSET, description=WINDOW_DESCRIPTION)
    count: CountTestInput | None = strawberry.field(default=UNSET, description=COUNT_DESCRIPTION)
    aggregate: AggregateTestInput | None = strawberry.field(
        default=UNSET, description=AGGREGATE_DESCRIPTION
    )
    share: ShareTestInput | None = strawberry.field(default=UNSET, description=SHARE_DESCRIPTION)


@strawberry.input(description="The first or last occurrence of matching events.")
class EventPickInput:
    type: str = strawberry.field(description=EVENT_TYPE_DESCRIPTION)
    occurrence: Occurrence | None = strawberry.field(
        default=UNSET, description="Which matching event's time is used; default FIRST."
    )
    match: MatchMode | None = strawberry.field(default=UNSET, description=MATCH_DESCRIPTION)
    conditions: list[EventConditionInput] | None = strawberry.field(
        default=UNSET, description=EVENT_CONDITIONS_DESCRIPTION
    )
    window: TimeWindowInput | None = strawberry.field(default=UNSET, description=WINDOW_DESCRIPTION)


@strawberry.input(description=CORRELATION_NODE_DESCRIPTION)
class CorrelationRuleInput:
    first: EventPickInput = strawberry.field(description="The first event rule (a).")
    second: EventPickInput = strawberry.field(description="The second event rule (b).")
    op: CorrelationOperator = strawberry.field(description="How a and b compare.")
    days: int = strawberry.field(description=DAYS_DESCRIPTION)


@strawberry.input(description=SEGMENT_NODE_DESCRIPTION)
class SegmentReferenceInput:
    id: GlobalID = strawberry.field(
        description="The referenced Segment's global id (as in Segment.id). In "
        "definitionJson the same key also takes the plain segment number."
    )
    in_: bool | None = strawberry.field(name="in", default=UNSET, description=IN_DESCRIPTION)


@strawberry.input(description=SAMPLE_NODE_DESCRIPTION)
class SampleRuleInput:
    seed: str = strawberry.field(description=SEED_DESCRIPTION)
    buckets: int | None = strawberry.field(default=UNSET, description=BUCKETS_DESCRIPTION)
    from_: int = strawberry.field(name="from", description=FROM_DESCRIPTION)
    to: int = strawberry.field(description=TO_DESCRIPTION)


@strawberry.input(description="One step of a sequence: join the result so far with a rule.")
class SequenceStepInput:
    join: SequenceJoin | None = strawberry.field(
        default=UNSET, description="How to join the result so far; omit on the first step."
    )
    rule: DefinitionNodeInput = strawberry.field(description="The rule (any node kind).")


@strawberry.input(one_of=True, description="A node of a condition tree: exactly one kind.")
class DefinitionNodeInput:
    and_: list[DefinitionNodeInput] | None = strawberry.field(
        name="and", default=UNSET, description=AND_DESCRIPTION
    )
    or_: list[DefinitionNodeInput] | None = strawberry.field(
        name="or", default=UNSET, description=OR_DESCRIPTION
    )
    not_: DefinitionNodeInput | None = strawberry.field(
        name="not", default=UNSET, description=NOT_DESCRIPTION
    )
    sequence: list[SequenceStepInput] | None = strawberry.field(
        default=UNSET, description=SEQUENCE_DESCRIPTION
    )
    contact: ContactRuleInput | None = strawberry.field(
        default=UNSET, description=CONTACT_NODE_DESCRIPTION
    )
    event: EventRuleInput | None = strawberry.field(
        default=UNSET, description=EVENT_NODE_DESCRIPTION
    )
    correlation: CorrelationRuleInput | None = strawberry.field(
        default=UNSET, description=CORRELATION_NODE_DESCRIPTION
    )
    segment: SegmentReferenceInput | None = strawberry.field(
        default=UNSET, description=SEGMENT_NODE_DESCRIPTION
    )
    sample: SampleRuleInput | None = strawberry.field(
        default=UNSET, description=SAMPLE_NODE_DESCRIPTION
    )


@strawberry.input(description="Which metric ranks the members of a refinement.")
class RefineMetricInput:
    type: str = strawberry.field(description=EVENT_TYPE_DESCRIPTION)
    fn: AggregateFunction = strawberry.field(description=METRIC_FN_DESCRIPTION)
    of: str | None = strawberry.field(default=UNSET, description=OF_DESCRIPTION)
    window: TimeWindowInput | None = strawberry.field(default=UNSET, description=WINDOW_DESCRIPTION)


@strawberry.input(description="Keep only the top / least N members by a metric.")
class RefinementInput:
    order: RefineOrder = strawberry.field(description="TOP (highest metric) or LEAST.")
    limit: int = strawberry.field(description=LIMIT_DESCRIPTION)
    metric: RefineMetricInput = strawberry.field(description="The metric members are ranked by.")


@strawberry.input(
    description="A segment definition as typed input; the same keys as the JSON format of "
    "definitionJson (segmentation/README.md)."
)
class DefinitionInput:
    root: DefinitionNodeInput = strawberry.field(description="The condition tree (its root node).")
    refine: RefinementInput | None = strawberry.field(
        default=UNSET, description="Applied after the conditions."
    )


def typed_or_json(
    typed: Any, as_json: Any, typed_name: str, json_name: str
) -> tuple[Any, str, list[InputError]]:
    """(JSON, input field it came in, errors) from a typed input and its JSON alternative
    (e.g. definition / definitionJson); giving both is an input error on `json_name`."""
    given = [v for v in (typed, as_json) if v is not None and v is not UNSET]
    errors = (
        [InputError((json_name,), f"Give {typed_name} or {json_name}, not both.")]
        if len(given) > 1
        else []
    )
    if typed is not None and typed is not UNSET:
        return input_json(typed), typed_name, errors
    if as_json is not None and as_json is not UNSET:
        return normalize_references(as_json), json_name, errors
    return None, typed_name, errors


def input_json(value: Any) -> Any:
    """A typed definition input as the JSON format (keys = GraphQL names, enums lowercase,
    Segment global ids as segment numbers)."""
    if isinstance(value, list):
        return [input_json(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, GlobalID):
        return segment_number(value)
    definition = getattr(type(value), "__strawberry_definition__", None)
    if definition is None:
        return value
    out: dict[str, Any] = {}
    for field in definition.fields:
        item = getattr(value, field.python_name)
        if item is UNSET or item is None:
            continue
        out[field.graphql_name or field.python_name] = input_json(item)
    return out


def segment_number(value: Any) -> Any:
    """The number inside a Segment global id; anything else unchanged (validation names it)."""
    parsed = value
    if not isinstance(value, GlobalID):
        try:
            parsed = GlobalID.from_id(str(value))
        except GlobalIDValueError:  # not a global id: validation names the mistake
            return value
    if parsed.type_name == "Segment" and parsed.node_id.isdigit() and len(parsed.node_id) < 19:
        return int(parsed.node_id)
    return str(value)


def normalize_references(data: Any) -> Any:
    """A JSON definition with `{"segment": {"id": <global id>}}` turned into segment numbers."""
    if isinstance(data, list):
        return [normalize_references(v) for v in data]
    if not isinstance(data, dict):
        return data
    out = {k: normalize_references(v) for k, v in data.items()}
    ref = out.get("segment")
    if isinstance(ref, dict) and isinstance(ref.get("id"), str):
        out["segment"] = {**ref, "id": segment_number(ref["id"])}
    return out
