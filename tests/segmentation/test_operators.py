"""Operators per data type on edge cases: each expectation written out, SQL and reference both."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from segmentation import Catalog, compile_definition, prepare_segment
from segmentation.reference import Dataset, evaluate
from segmentation.run import connection
from tests.segmentation.conftest import contact_row, insert_dataset

AS_OF = dt.datetime(2024, 3, 31, 10, 0, tzinfo=dt.UTC)  # Rome switched to summer time at 01:00 UTC


async def members(catalog: Catalog, data: Dataset, definition: dict, as_of=AS_OF) -> set[int]:
    """Members by SQL, asserted equal to the reference evaluator's."""
    segment = await prepare_segment(definition, catalog)
    compiled = compile_definition(segment, catalog, as_of)
    async with connection() as c:
        got = {r[0] for r in await c.fetch(compiled.sql, *compiled.params)}
    assert got == evaluate(segment, catalog, as_of, data)
    return got


def where(field: str, op: str, value=None) -> dict:
    cond = {"field": field, "op": op}
    if value is not None:
        cond["value"] = value
    return {"root": {"contact": {"conditions": [cond]}}}


NAMES = {1: "100%", 2: "100x", 3: "b_c", 4: "bxc", 5: "O'Hara", 6: "back\\slash", 7: "Élan",
         8: "", 9: None, 10: "日本語"}  # fmt: skip


@pytest.fixture
def names() -> Dataset:
    return Dataset([contact_row(i, first_name=n) for i, n in NAMES.items()])


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("like", "0%", {1}),  # % typed by the user is a literal character
        ("like", "_", {3}),
        ("like", "'", {5}),
        ("like", "\\", {6}),
        ("like", "o'h", {5}),  # not case-sensitive
        ("like", "本", {10}),
        ("like", "", {1, 2, 3, 4, 5, 6, 7, 8, 10}),  # contains "" = any non-null text
        ("not_like", "100", {3, 4, 5, 6, 7, 8, 10}),  # null never matches
        ("starts_with", "B", {3, 4, 6}),
        ("ends_with", "X", {2}),
        ("eq", ["b_c", "O'Hara"], {3, 5}),
        ("eq", "o'hara", set()),  # equal is exact
        ("neq", ["100%", ""], {2, 3, 4, 5, 6, 7, 10}),
        ("is_null", None, {9}),
        ("is_not_null", None, {1, 2, 3, 4, 5, 6, 7, 8, 10}),
    ],
)
async def test_string_operators(shop: Catalog, names: Dataset, op, value, expected) -> None:
    await insert_dataset(shop, names)
    assert await members(shop, names, where("first_name", op, value)) == expected


async def test_between_is_inclusive_and_null_never_matches(shop: Catalog) -> None:
    data = Dataset([contact_row(i, attributes={"ltv": v} if v is not None else {})
                    for i, v in enumerate([0.99, 1, 1.5, 2, 2.01, None], start=1)])  # fmt: skip
    await insert_dataset(shop, data)
    assert await members(shop, data, where("ltv", "between", [1, "2"])) == {2, 3, 4}
    assert await members(shop, data, where("ltv", "gt", 1.5)) == {4, 5}
    assert await members(shop, data, where("ltv", "lte", 1)) == {1, 2}
    assert await members(shop, data, where("ltv", "neq", [1])) == {1, 3, 4, 5}
    not_between = {"root": {"not": where("ltv", "between", [1, 2])["root"]}}
    assert await members(shop, data, not_between) == {1, 5, 6}


async def test_attribute_of_the_wrong_json_type_reads_as_null(shop: Catalog) -> None:
    scores = {1: {"score": "7"}, 2: {"score": 7}, 3: {"score": None}}
    data = Dataset([contact_row(i, attributes=a) for i, a in scores.items()])
    await insert_dataset(shop, data)
    assert await members(shop, data, where("score", "eq", [7])) == {2}
    assert await members(shop, data, where("score", "is_null")) == {1, 3}


# Strings that look like dates but are not one: each reads as null, none fails the query.
BAD_DATES = ["2023-02-29", "2024-02-30", "2024-04-31", "2024-13-01", "0000-01-01", "2024-1-01",
             "2024-W01-1", "20240101", "2024-01-01 ", "2024-01-01\n", "٢٠٢٤-01-01", ""]  # fmt: skip
BAD_DATETIMES = ["2024-02-30T10:00Z", "2024-01-01T24:00:00Z", "2024-01-01T10:60Z",
                 "2024-01-01T10:00:60Z", "2024-01-01T10:00", "2024-01-01T10:00+15:00",
                 "2024-01-01T10:00:00.1234567Z", "0999-12-31T23:00Z", "2024-01-01t10:00Z",
                 "2024-01-01T10Z", "2024-01-01"]  # fmt: skip


async def test_malformed_date_attributes_read_as_null(shop: Catalog) -> None:
    good = {1: {"signup": "2024-02-29", "last_seen": "2024-01-01T10:00:00.5+01:00"},
            2: {"signup": "0001-01-01", "last_seen": "2024-01-01 23:59Z"}}  # fmt: skip
    bad = {
        i: {"signup": d, "last_seen": t}
        for i, (d, t) in enumerate(zip(BAD_DATES, BAD_DATETIMES, strict=False), start=3)
    }
    data = Dataset([contact_row(i, attributes=a) for i, a in (good | bad).items()])
    await insert_dataset(shop, data)
    assert await members(shop, data, where("signup", "is_not_null")) == {1, 2}
    assert await members(shop, data, where("signup", "lt", "2030-01-01")) == {1, 2}
    assert await members(shop, data, where("signup", "month_equals", 2)) == {1}
    assert await members(shop, data, where("last_seen", "is_not_null")) == {1, 2}
    assert await members(shop, data, where("last_seen", "date_equals", "2024-01-01")) == {1}
    not_after = {"root": {"not": where("last_seen", "gt", "2023-06-01T00:00Z")["root"]}}
    assert await members(shop, data, not_after) == set(bad)


async def test_date_parts_month_ends_and_leap_day(shop: Catalog) -> None:
    days = {1: dt.date(2000, 2, 29), 2: dt.date(2023, 2, 28), 3: dt.date(2024, 1, 31),
            4: dt.date(1990, 3, 31), 5: None}  # fmt: skip
    data = Dataset([contact_row(i, birth_date=d) for i, d in days.items()])
    await insert_dataset(shop, data)
    assert await members(shop, data, where("birth_date", "day_equals", 31)) == {3, 4}
    assert await members(shop, data, where("birth_date", "month_equals", 2)) == {1, 2}
    assert await members(shop, data, where("birth_date", "year_equals", 2000)) == {1}
    assert await members(shop, data, where("birth_date", "date_equals", "2024-01-31")) == {3}
    today = {"relative": {"amount": 0, "unit": "day"}}
    assert await members(shop, data, where("birth_date", "anniversary_within", 0)) == {4}
    assert await members(shop, data, where("birth_date", "gte", today)) == set()


async def test_leap_day_birthdays_are_celebrated_on_28_february_off_leap_years(
    shop: Catalog,
) -> None:
    data = Dataset([contact_row(1, birth_date=dt.date(2000, 2, 29)),
                    contact_row(2, birth_date=dt.date(1999, 3, 1))])  # fmt: skip
    await insert_dataset(shop, data)
    birthday = where("birth_date", "anniversary_within", 0)
    within_a_day = where("birth_date", "anniversary_within", 1)
    feb28_2025 = dt.datetime(2025, 2, 28, 9, tzinfo=dt.UTC)
    assert await members(shop, data, birthday, feb28_2025) == {1}
    assert await members(shop, data, within_a_day, feb28_2025) == {1, 2}
    feb28_2024 = dt.datetime(2024, 2, 28, 9, tzinfo=dt.UTC)  # leap year: 29 Feb is its own day
    assert await members(shop, data, birthday, feb28_2024) == set()
    assert await members(shop, data, within_a_day, feb28_2024) == {1}


async def test_datetime_date_equals_uses_the_database_time_zone(shop: Catalog) -> None:
    # 22:30 UTC on 30 March is 23:30 in Rome; 23:30 UTC is already 31 March in Rome.
    data = Dataset([
        contact_row(1, created_at=dt.datetime(2024, 3, 30, 22, 30, tzinfo=dt.UTC)),
        contact_row(2, created_at=dt.datetime(2024, 3, 30, 23, 30, tzinfo=dt.UTC)),
    ])  # fmt: skip
    await insert_dataset(shop, data)
    today = {"relative": {"amount": 0, "unit": "day"}}
    assert await members(shop, data, where("created_at", "date_equals", today)) == {2}
    assert await members(shop, data, where("created_at", "date_equals", "2024-03-30")) == {1}
    assert await members(shop, data, where("created_at", "day_equals", 31)) == {2}


async def test_relative_datetime_window_crosses_the_dst_change(shop: Catalog) -> None:
    # as_of 12:00 Rome (CEST) on 31 March; one day before is 12:00 CET = 11:00 UTC on 30 March.
    data = Dataset([
        contact_row(1, created_at=dt.datetime(2024, 3, 30, 10, 59, tzinfo=dt.UTC)),
        contact_row(2, created_at=dt.datetime(2024, 3, 30, 11, 0, tzinfo=dt.UTC)),
    ])  # fmt: skip
    await insert_dataset(shop, data)
    day_ago = {"relative": {"amount": -1, "unit": "day"}}
    assert await members(shop, data, where("created_at", "gte", day_ago)) == {2}


async def test_list_contains_any_all_none(shop: Catalog) -> None:
    data = Dataset([contact_row(1, attributes={"tags": ["a", "b"]}),
                    contact_row(2, attributes={"tags": []}), contact_row(3)])  # fmt: skip
    await insert_dataset(shop, data)
    assert await members(shop, data, where("tags", "contains_any", ["b", "z"])) == {1}
    assert await members(shop, data, where("tags", "contains_all", ["a", "b"])) == {1}
    assert await members(shop, data, where("tags", "contains_all", ["a", "z"])) == set()
    assert await members(shop, data, where("tags", "contains_none", ["a"])) == {2}  # null: no
    assert await members(shop, data, where("tags", "is_null")) == {3}


async def test_boolean_and_enum(shop: Catalog) -> None:
    data = Dataset([contact_row(1, consent_email=True, gender="F"),
                    contact_row(2, consent_email=False, gender="M"), contact_row(3)])  # fmt: skip
    await insert_dataset(shop, data)
    assert await members(shop, data, where("consent_email", "eq", True)) == {1}
    assert await members(shop, data, where("gender", "eq", ["F", "X"])) == {1}
    assert await members(shop, data, where("gender", "neq", ["F"])) == {2}


def _event(contact_id: int, event_type: str, days_ago: float, value=None, **props) -> dict:
    return {
        "contact_id": contact_id,
        "event_type": event_type,
        "occurred_at": AS_OF - dt.timedelta(days=days_ago),
        "value": Decimal(str(value)) if value is not None else None,
        "properties": props,
    }


async def test_event_rules_counts_aggregates_share_and_have_not(shop: Catalog) -> None:
    data = Dataset(
        [contact_row(i) for i in (1, 2, 3, 4)],
        [
            _event(1, "purchase", 10, 300), _event(1, "purchase", 50, 250),
            _event(2, "purchase", 100, 900),
            _event(3, "purchase_line", 5, 20, category="shoes"),
            _event(3, "purchase_line", 5, 20, category="bags"),
            _event(3, "purchase_line", 6, 20, category="bags"),
            _event(4, "email_opened", 1, subject="Newsletter X"),
            _event(4, "purchase", 0.5, 10),
        ],
    )  # fmt: skip
    await insert_dataset(shop, data)
    last90 = {"last": {"amount": 90, "unit": "day"}}
    spent = {"event": {"type": "purchase", "window": last90,
                       "aggregate": {"fn": "sum", "op": "gt", "value": 500}}}  # fmt: skip
    assert await members(shop, data, {"root": spent}) == {1}
    twice = {"event": {"type": "purchase", "count": {"op": "gte", "value": 2}}}
    assert await members(shop, data, {"root": twice}) == {1}
    fewer = {"event": {"type": "purchase", "count": {"op": "lt", "value": 1}}}
    assert await members(shop, data, {"root": fewer}) == {3}  # zero events count as 0
    never = {"event": {"type": "purchase", "have": False}}
    assert await members(shop, data, {"root": never}) == {3}
    shoes = {"event": {"type": "purchase_line",
                       "conditions": [{"property": "category", "op": "eq", "value": "shoes"}],
                       "share": {"op": "gte", "percent": 30}}}  # fmt: skip
    assert await members(shop, data, {"root": shoes}) == {3}
    shoes["event"]["share"]["percent"] = 34
    assert await members(shop, data, {"root": shoes}) == set()
    shoes["event"]["conditions"][0] = {"property": "category", "op": "is_null"}
    shoes["event"]["share"] = {"op": "gt", "percent": 0}
    assert await members(shop, data, {"root": shoes}) == set()
    within = {"correlation": {
        "first": {"type": "purchase"},
        "second": {"type": "email_opened",
                   "conditions": [{"property": "subject", "op": "like", "value": "newsletter"}]},
        "op": "within_after", "days": 5}}  # fmt: skip
    assert await members(shop, data, {"root": within}) == {4}


async def test_flat_sequence_is_evaluated_left_to_right(shop: Catalog) -> None:
    data = Dataset([contact_row(i, country=c) for i, c in [(1, "IT"), (2, "FR"), (3, "DE")]])
    await insert_dataset(shop, data)

    def country(c: str) -> dict:
        return {"contact": {"conditions": [{"field": "country", "op": "eq", "value": c}]}}

    # (IT OR FR) EXCEPT FR OR DE, left to right = ((IT OR FR) EXCEPT FR) OR DE = {1, 3}
    sequence = {"root": {"sequence": [
        {"rule": country("IT")}, {"join": "or", "rule": country("FR")},
        {"join": "except", "rule": country("FR")}, {"join": "or", "rule": country("DE")},
    ]}}  # fmt: skip
    assert await members(shop, data, sequence) == {1, 3}


async def test_refinement_keeps_top_spenders_ties_by_lower_id(shop: Catalog) -> None:
    data = Dataset(
        [contact_row(i) for i in (1, 2, 3, 4)],
        [_event(1, "purchase", 3, 50), _event(2, "purchase", 3, 500), _event(3, "purchase", 3, 50)],
    )
    await insert_dataset(shop, data)
    everyone = {"contact": {"conditions": [{"field": "external_id", "op": "is_not_null"}]}}
    last_month = {"last": {"amount": 1, "unit": "month"}}
    top = {"order": "top", "limit": 2,
           "metric": {"type": "purchase", "fn": "sum", "window": last_month}}  # fmt: skip
    assert await members(shop, data, {"root": everyone, "refine": top}) == {1, 2}
    least = {**top, "order": "least", "limit": 1}
    assert await members(shop, data, {"root": everyone, "refine": least}) == {4}


async def test_random_sample_buckets_partition_the_contacts(shop: Catalog) -> None:
    ids = [*range(1, 41), -7, 2**32 + 3, 2**40]  # odd ids hash as in the reference too
    data = Dataset([contact_row(i) for i in ids])
    await insert_dataset(shop, data)

    def bucket(a: int, b: int) -> dict:
        return {"root": {"sample": {"seed": "split", "buckets": 4, "from": a, "to": b}}}

    parts = [await members(shop, data, bucket(i, i + 1)) for i in range(4)]
    assert set().union(*parts) == set(ids)
    assert sum(len(p) for p in parts) == len(ids)
    assert all(p for p in parts)
