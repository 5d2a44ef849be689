"""Hypothesis strategies: random small datasets and random valid definitions over them.

Values come from small pools full of edge cases (case, `%`, `_`, quotes, backslashes,
unicode, month ends, 29 February, window edges, DST days) so that random trees hit them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from segmentation.operators import NUMERIC_OPERATORS, operators_for
from segmentation.reference import Dataset
from segmentation.values import EvalContext
from tests.segmentation.conftest import contact_row

TIMEZONE = "Europe/Rome"
AS_OF_CHOICES = [
    dt.datetime(2024, 3, 31, 10, 0, tzinfo=dt.UTC),  # spring-forward day in Rome
    dt.datetime(2024, 10, 27, 1, 30, tzinfo=dt.UTC),  # fall-back day in Rome
    dt.datetime(2024, 2, 29, 12, 0, tzinfo=dt.UTC),  # leap day
    dt.datetime(2023, 12, 31, 23, 30, tzinfo=dt.UTC),  # already 1 January in Rome
    dt.datetime(2025, 2, 28, 9, 0, tzinfo=dt.UTC),  # 28 February of a non-leap year
]
STRINGS = [
    "",
    "a",
    "A",
    "ab",
    "Ab",
    "100%",
    "100x",
    "b_c",
    "bxc",
    "o'q",
    "back\\slash",
    "é",
    "日本",
]
COUNTRIES = ["IT", "FR", "it"]
TAGS = ["a", "b", "c"]
INTEGERS = [-1, 0, 1, 2, 5]
DECIMALS = [0, 1.5, "2.25", -3, 10]
UNITS = ["day", "week", "month", "year"]
EVENT_TYPES = ["purchase", "purchase_line", "email_opened", "email_clicked", "cart_abandoned"]
PROPERTIES = {
    "purchase": {"store": "string", "items": "integer"},
    "purchase_line": {"category": "string", "quantity": "integer", "price": "decimal"},
    "email_opened": {"subject": "string"},
    "email_clicked": {"link_category": "string"},
    "cart_abandoned": {},
}
CATEGORIES = ["shoes", "Shoes", "bags", "sho%"]
# Date-like strings that are not dates: they read as null in SQL and in the reference.
BAD_DATES = ["2023-02-29", "2024-04-31", "0000-01-01", "2024-1-01", "2024-W01-1"]
BAD_DATETIMES = ["2024-02-30T10:00Z", "2024-01-01T24:00:00Z", "2024-01-01T10:00",
                 "2024-01-01T10:00:00.1234567Z"]  # fmt: skip

# Fields of the shop catalog the trees test: key -> (data type, enum values, string pool)
FIELDS: dict[str, tuple[str, list[str]]] = {
    "first_name": ("string", []),
    "country": ("string", []),
    "gender": ("enum", ["F", "M", "X"]),
    "birth_date": ("date", []),
    "consent_email": ("boolean", []),
    "created_at": ("datetime", []),
    "nickname": ("string", []),
    "score": ("integer", []),
    "ltv": ("decimal", []),
    "vip": ("boolean", []),
    "signup": ("date", []),
    "last_seen": ("datetime", []),
    "tags": ("string_list", []),
    "tier": ("enum", ["gold", "silver", "bronze"]),
}


def date_pool(ctx: EvalContext) -> list[dt.date]:
    today = ctx.today
    near = [today + dt.timedelta(days=k) for k in (-400, -365, -31, -30, -7, -1, 0, 1, 6, 7)]
    same_day = [today.replace(year=1990) if not (today.month == 2 and today.day == 29)
                else dt.date(1992, 2, 29)]  # fmt: skip
    special = [dt.date(2000, 2, 29), dt.date(2023, 2, 28), dt.date(2023, 3, 1),
               dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(1988, 12, 31)]  # fmt: skip
    return near + same_day + special


def datetime_pool(ctx: EvalContext) -> list[dt.datetime]:
    edges = [ctx.shifted(-n, u) for n, u in ((1, "day"), (7, "day"), (30, "day"), (1, "month"),
                                              (1, "week"), (1, "year"))]  # fmt: skip
    midnights = [ctx.midnight(ctx.today - dt.timedelta(days=k)) for k in (0, 1, 7, 30)]
    hours = [ctx.as_of + dt.timedelta(hours=h) for h in (-2000, -700, -170, -25, -23, -1, 0, 1, 30)]
    just = [e - dt.timedelta(microseconds=1) for e in edges[:3]]
    return edges + midnights + hours + just


def relative(amounts=(-30, -7, -1, 0, 1, 7)) -> st.SearchStrategy:
    return st.builds(
        lambda a, u: {"relative": {"amount": a, "unit": u}},
        st.sampled_from(amounts),
        st.sampled_from(UNITS),
    )


# -- datasets ------------------------------------------------------------------------------
@st.composite
def datasets(draw, ctx: EvalContext) -> Dataset:
    dates, times = date_pool(ctx), datetime_pool(ctx)
    n = draw(st.integers(1, 12))
    contacts = []
    for i in range(1, n + 1):
        maybe = lambda s: draw(st.one_of(st.none(), s))  # noqa: E731
        attributes: dict[str, Any] = {}
        pools = {
            "nickname": st.sampled_from(STRINGS),
            "score": st.sampled_from(INTEGERS),
            "ltv": st.sampled_from([0, 1.5, 2.25, -3, 10]),
            "vip": st.booleans(),
            "signup": st.one_of(
                st.sampled_from(dates).map(dt.date.isoformat), st.sampled_from(BAD_DATES)
            ),
            "last_seen": st.one_of(
                st.sampled_from(times).map(lambda t: t.isoformat()),
                st.sampled_from(BAD_DATETIMES),
            ),
            "tags": st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
            "tier": st.sampled_from(["gold", "silver", "bronze"]),
        }
        for key, strategy in pools.items():
            if draw(st.booleans()):
                attributes[key] = draw(strategy)
        contacts.append(
            contact_row(
                i,
                first_name=maybe(st.sampled_from(STRINGS)),
                country=maybe(st.sampled_from(COUNTRIES)),
                gender=maybe(st.sampled_from(["F", "M", "X"])),
                birth_date=maybe(st.sampled_from(dates)),
                consent_email=draw(st.booleans()),
                created_at=draw(st.sampled_from(times)),
                attributes=attributes,
            )
        )
    events = []
    for contact in contacts:
        for _ in range(draw(st.integers(0, 6))):
            event_type = draw(st.sampled_from(EVENT_TYPES))
            props: dict[str, Any] = {}
            for key, data_type in PROPERTIES[event_type].items():
                if draw(st.integers(0, 4)) == 0:
                    continue
                props[key] = draw(_json_pool(data_type, key))
            value = draw(st.one_of(st.none(), st.sampled_from(["0", "9.99", "100", "600.5"])))
            events.append(
                {
                    "contact_id": contact["id"],
                    "event_type": event_type,
                    "occurred_at": draw(st.sampled_from(times)),
                    "value": Decimal(value) if value is not None else None,
                    "properties": props,
                }
            )
    return Dataset(contacts, events)


def _json_pool(data_type: str, key: str) -> st.SearchStrategy:
    if data_type == "string":  # a category may also be stored as another JSON type
        return st.sampled_from([*CATEGORIES, 7, None] if key == "category" else STRINGS)
    if data_type == "integer":
        return st.sampled_from(INTEGERS)
    return st.sampled_from([0, 1.5, 2.25, 10])


# -- values for conditions -------------------------------------------------------------------
def scalar_values(data_type: str, enum_values: list[str], ctx: EvalContext, key: str = ""):
    if data_type in ("string",):
        pool = (
            CATEGORIES if key == "category" else STRINGS + (COUNTRIES if key == "country" else [])
        )
        return st.sampled_from(pool)
    if data_type == "enum":
        return st.sampled_from(enum_values)
    if data_type == "integer":
        return st.sampled_from(INTEGERS)
    if data_type == "decimal":
        return st.sampled_from(DECIMALS)
    if data_type == "boolean":
        return st.booleans()
    if data_type == "date":
        literal = st.sampled_from(date_pool(ctx)).map(dt.date.isoformat)
        return st.one_of(literal, relative())
    if data_type == "datetime":
        literal = st.sampled_from(datetime_pool(ctx)).map(lambda t: t.isoformat())
        return st.one_of(literal, relative())
    raise AssertionError(data_type)


def _resolved(data_type: str, raw: Any, ctx: EvalContext) -> Any:
    from segmentation.values import SCALARS

    return SCALARS[data_type][0](raw, ctx)


@st.composite
def condition_value(draw, data_type: str, op: str, enum_values: list[str], ctx: EvalContext,
                    key: str = "") -> Any:  # fmt: skip
    scalar = scalar_values(data_type, enum_values, ctx, key) if data_type != "string_list" else None
    if op in ("is_null", "is_not_null"):
        return None
    if op in ("eq", "neq"):
        return draw(st.lists(scalar, min_size=1, max_size=3))
    if op in ("contains_any", "contains_all", "contains_none"):
        return draw(st.lists(st.sampled_from([*TAGS, "z"]), min_size=1, max_size=3))
    if op in ("like", "not_like", "starts_with", "ends_with"):
        return draw(
            st.sampled_from(["", "a", "b", "%", "_", "0%", "b_c", "'", "\\", "é", "本", "sho"])
        )
    if op == "between":
        low, high = draw(scalar), draw(scalar)
        if _resolved(data_type, low, ctx) > _resolved(data_type, high, ctx):
            low, high = high, low
        return [low, high]
    if op == "date_equals":
        return draw(scalar_values("date", [], ctx))
    if op == "month_equals":
        return draw(st.integers(1, 12))
    if op == "year_equals":
        return draw(st.sampled_from([1990, 2000, 2023, 2024, 2025]))
    if op == "day_equals":
        return draw(st.sampled_from([1, 15, 28, 29, 30, 31]))
    if op == "anniversary_within":
        return draw(st.sampled_from([0, 1, 2, 7, 30, 365]))
    return draw(scalar)


@st.composite
def contact_conditions(draw, ctx: EvalContext) -> dict:
    key = draw(st.sampled_from(sorted(FIELDS)))
    data_type, enum_values = FIELDS[key]
    op = draw(st.sampled_from(operators_for(data_type)))
    cond: dict[str, Any] = {"field": key, "op": op}
    value = draw(condition_value(data_type, op, enum_values, ctx, key))
    if value is not None:
        cond["value"] = value
    return cond


@st.composite
def property_conditions(draw, event_type: str, ctx: EvalContext) -> dict:
    props = {**PROPERTIES[event_type], "$value": "decimal"}
    key = draw(st.sampled_from(sorted(props)))
    op = draw(st.sampled_from(operators_for(props[key])))
    cond: dict[str, Any] = {"property": key, "op": op}
    value = draw(condition_value(props[key], op, [], ctx, key))
    if value is not None:
        cond["value"] = value
    return cond


@st.composite
def windows(draw, ctx: EvalContext) -> dict | None:
    kind = draw(st.sampled_from(["none", "anytime", "last", "last", "after", "before", "between"]))
    day = st.one_of(st.sampled_from(date_pool(ctx)).map(dt.date.isoformat), relative())
    if kind == "none":
        return None
    if kind == "anytime":
        return {"anytime": True}
    if kind == "last":
        amount = draw(st.sampled_from([0, 1, 7, 30]))
        return {"last": {"amount": amount, "unit": draw(st.sampled_from(UNITS))}}
    if kind == "between":
        a, b = draw(day), draw(day)
        if _resolved("date", a, ctx) > _resolved("date", b, ctx):
            a, b = b, a
        return {"between": {"from": a, "to": b}}
    return {kind: draw(day)}


@st.composite
def numeric_compare(draw, value_key: str, pool: list) -> dict:
    op = draw(st.sampled_from(NUMERIC_OPERATORS))
    if op == "between":
        a, b = sorted(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)), key=Decimal)
        return {"op": op, value_key: [a, b]}
    if op in ("eq", "neq"):
        return {"op": op, value_key: draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2))}
    return {"op": op, value_key: draw(st.sampled_from(pool))}


@st.composite
def event_rules(draw, ctx: EvalContext) -> dict:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    rule: dict[str, Any] = {"type": event_type}
    if draw(st.booleans()):
        rule["have"] = draw(st.booleans())
    if draw(st.booleans()):
        rule["match"] = draw(st.sampled_from(["all", "any"]))
    conditions = draw(st.lists(property_conditions(event_type, ctx), max_size=2))
    if conditions:
        rule["conditions"] = conditions
    window = draw(windows(ctx))
    if window is not None:
        rule["window"] = window
    if draw(st.integers(0, 2)) == 0:
        rule["count"] = draw(numeric_compare("value", [0, 1, 2, 3]))
    if draw(st.integers(0, 2)) == 0:
        numeric = ["$value"] + [k for k, t in PROPERTIES[event_type].items() if t != "string"]
        agg = {"fn": draw(st.sampled_from(["sum", "count", "min", "max", "avg"]))}
        agg["of"] = draw(st.sampled_from(numeric if agg["fn"] != "count" else
                                         ["$value", *PROPERTIES[event_type]]))  # fmt: skip
        rule["aggregate"] = agg | draw(numeric_compare("value", [0, 1, 9.99, 100, "600.5"]))
    if conditions and draw(st.integers(0, 2)) == 0:
        rule["share"] = draw(numeric_compare("percent", [0, 10, 33.33, 50, 100]))
    return {"event": rule}


@st.composite
def picks(draw, ctx: EvalContext) -> dict:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    pick: dict[str, Any] = {
        "type": event_type,
        "occurrence": draw(st.sampled_from(["first", "last"])),
    }
    conditions = draw(st.lists(property_conditions(event_type, ctx), max_size=1))
    if conditions:
        pick["conditions"] = conditions
    window = draw(windows(ctx))
    if window is not None:
        pick["window"] = window
    return pick


def correlations(ctx: EvalContext) -> st.SearchStrategy:
    ops = ["within", "within_after", "within_before", "more_than", "more_than_after",
           "more_than_before"]  # fmt: skip
    return st.builds(
        lambda a, b, op, days: {"correlation": {"first": a, "second": b, "op": op, "days": days}},
        picks(ctx),
        picks(ctx),
        st.sampled_from(ops),
        st.sampled_from([0, 1, 5, 30]),
    )


def samples() -> st.SearchStrategy:
    return st.builds(
        lambda seed, a, b: {
            "sample": {"seed": seed, "buckets": 10, "from": min(a, b), "to": max(a, b)}
        },
        st.sampled_from(["", "x", "control"]),
        st.integers(0, 10),
        st.integers(0, 10),
    )


def leaves(ctx: EvalContext, segment_ids: list[int]) -> st.SearchStrategy:
    contact = st.builds(
        lambda conds, match: {"contact": {"match": match, "conditions": conds}},
        st.lists(contact_conditions(ctx), min_size=1, max_size=3),
        st.sampled_from(["all", "any"]),
    )
    options = [contact, contact, event_rules(ctx), event_rules(ctx), correlations(ctx), samples()]
    if segment_ids:
        options.append(
            st.builds(
                lambda i, inc: {"segment": {"id": i, "in": inc}},
                st.sampled_from(segment_ids),
                st.booleans(),
            )
        )
    return st.one_of(*options)


def nodes(ctx: EvalContext, segment_ids: list[int]) -> st.SearchStrategy:
    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(
            st.lists(children, min_size=1, max_size=3).map(lambda c: {"and": c}),
            st.lists(children, min_size=1, max_size=3).map(lambda c: {"or": c}),
            children.map(lambda c: {"not": c}),
            st.builds(
                lambda first, rest: {"sequence": [{"rule": first}, *rest]},
                children,
                st.lists(
                    st.builds(
                        lambda j, r: {"join": j, "rule": r},
                        st.sampled_from(["and", "or", "except"]),
                        children,
                    ),
                    min_size=1,
                    max_size=2,
                ),
            ),
        )

    return st.recursive(leaves(ctx, segment_ids), extend, max_leaves=6)


@st.composite
def refines(draw, ctx: EvalContext) -> dict | None:
    if draw(st.integers(0, 3)) != 0:
        return None
    event_type = draw(st.sampled_from(["purchase", "purchase_line"]))
    fn = draw(st.sampled_from(["sum", "count", "min", "max", "avg"]))
    metric: dict[str, Any] = {"type": event_type, "fn": fn}
    if event_type == "purchase_line" and draw(st.booleans()):
        metric["of"] = draw(st.sampled_from(["quantity", "price"]))
    window = draw(windows(ctx))
    if window is not None:
        metric["window"] = window
    return {"order": draw(st.sampled_from(["top", "least"])), "limit": draw(st.integers(0, 5)),
            "metric": metric}  # fmt: skip


@st.composite
def definitions(draw, ctx: EvalContext, segment_ids: list[int]) -> dict:
    definition: dict[str, Any] = {"root": draw(nodes(ctx, segment_ids))}
    refine = draw(refines(ctx))
    if refine is not None:
        definition["refine"] = refine
    return definition
