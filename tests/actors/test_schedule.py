"""Plan schedules: kinds, end rules, limits, skipped dates, daylight saving, bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.schedule import (
    MAX_RUNS,
    WEEKDAYS,
    InvalidSchedule,
    Schedule,
    count_runs,
    next_occurrence,
    occurrences,
    one_year_after,
    parse_schedule,
    preview,
)

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
DAILY = {"kind": "daily", "start": "2026-01-01", "time": "09:00"}
AFTER_2 = {"kind": "after", "count": 2}
AFTER_4 = {"kind": "after", "count": 4}


def parse(spec: dict, tz: str = "Europe/Rome", **kwargs) -> Schedule:
    return parse_schedule(spec, default_timezone=tz, **kwargs)


def errors(spec: object, **kwargs) -> list[tuple[str, str]]:
    with pytest.raises(InvalidSchedule) as caught:
        parse_schedule(spec, default_timezone="Europe/Rome", **kwargs)
    return [(e.path, e.code) for e in caught.value.errors]


def local(moments: list[datetime], zone: ZoneInfo = ROME) -> list[str]:
    return [m.astimezone(zone).strftime("%Y-%m-%d %H:%M") for m in moments]


# --- kinds -----------------------------------------------------------------------------------


def test_once_runs_at_the_local_time_in_the_database_time_zone():
    schedule = parse({"kind": "once", "start": "2026-12-01", "time": "09:00"})
    assert schedule.timezone == "Europe/Rome"
    assert occurrences(schedule) == [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    assert count_runs(schedule) == 1


def test_once_in_an_explicit_time_zone_overrides_the_default():
    schedule = parse(
        {"kind": "once", "start": "2026-07-01", "time": "09:00", "timezone": "America/New_York"}
    )
    assert occurrences(schedule) == [datetime(2026, 7, 1, 13, 0, tzinfo=UTC)]


def test_daily_every_two_days_after_five_runs():
    schedule = parse(
        {
            "kind": "daily",
            "start": "2026-01-30",
            "time": "07:15",
            "every": 2,
            "end": {"kind": "after", "count": 5},
        }
    )
    assert local(occurrences(schedule)) == [
        "2026-01-30 07:15",
        "2026-02-01 07:15",
        "2026-02-03 07:15",
        "2026-02-05 07:15",
        "2026-02-07 07:15",
    ]


def test_weekly_on_chosen_weekdays_starts_on_the_start_date():
    # 2026-12-02 is a Wednesday: Monday of that week is before the start and is not a run.
    schedule = parse(
        {
            "kind": "weekly",
            "start": "2026-12-02",
            "time": "18:00",
            "weekdays": ["mon", "Friday", "wed"],
            "end": {"kind": "on", "date": "2026-12-14"},
        }
    )
    assert local(occurrences(schedule)) == [
        "2026-12-02 18:00",
        "2026-12-04 18:00",
        "2026-12-07 18:00",
        "2026-12-09 18:00",
        "2026-12-11 18:00",
        "2026-12-14 18:00",
    ]


def test_weekly_every_two_weeks_skips_the_odd_weeks():
    schedule = parse(
        {
            "kind": "weekly",
            "start": "2026-12-07",
            "time": "10:00",
            "every": 2,
            "weekdays": ["mon"],
            "end": {"kind": "after", "count": 3},
        }
    )
    assert local(occurrences(schedule)) == [
        "2026-12-07 10:00",
        "2026-12-21 10:00",
        "2027-01-04 10:00",
    ]


def test_weekly_defaults_to_the_weekday_of_the_start():
    schedule = parse({"kind": "weekly", "start": "2026-12-03", "time": "10:00"})
    assert schedule.weekdays == (WEEKDAYS.index("thu"),)
    assert all(m.astimezone(ROME).weekday() == 3 for m in occurrences(schedule))


def test_monthly_skips_dates_that_do_not_exist():
    schedule = parse(
        {
            "kind": "monthly",
            "start": "2027-01-01",
            "time": "09:00",
            "months": [1, 2, 4],
            "days": [31, 30, 29],
            "end": {"kind": "on", "date": "2027-12-31"},
        }
    )
    # No 29-31 February in 2027, no 31 April.
    assert local(occurrences(schedule)) == [
        "2027-01-29 09:00",
        "2027-01-30 09:00",
        "2027-01-31 09:00",
        "2027-04-29 09:00",
        "2027-04-30 09:00",
    ]


def test_monthly_29_february_runs_only_in_a_leap_year():
    spec = {"kind": "monthly", "time": "09:00", "months": [2], "days": [29]}
    leap = parse({**spec, "start": "2027-06-01"})  # the year after covers February 2028
    assert local(occurrences(leap)) == ["2028-02-29 09:00"]
    with pytest.raises(InvalidSchedule) as caught:
        parse({**spec, "start": "2026-03-01"})  # February 2027 has no 29th
    assert [(e.path, e.code) for e in caught.value.errors] == [("schedule", "no_runs")]


def test_monthly_defaults_to_every_month_on_the_start_day():
    schedule = parse({"kind": "monthly", "start": "2026-01-15", "time": "09:00"})
    assert count_runs(schedule) == 12
    assert {m.astimezone(ROME).day for m in occurrences(schedule)} == {15}


# --- end rules and limits --------------------------------------------------------------------


def test_never_ending_daily_stops_after_one_year():
    schedule = parse({"kind": "daily", "start": "2026-01-01", "time": "09:00"})
    runs = occurrences(schedule)
    assert len(runs) == 365
    assert local(runs[-1:]) == ["2026-12-31 09:00"]


def test_never_ending_daily_over_a_leap_day_is_capped_at_365_runs():
    schedule = parse({"kind": "daily", "start": "2027-06-01", "time": "09:00"})
    runs = occurrences(schedule)
    assert len(runs) == MAX_RUNS
    assert local(runs[-1:]) == ["2028-05-30 09:00"]


def test_never_ending_weekly_has_the_runs_of_one_year():
    schedule = parse({"kind": "weekly", "start": "2026-01-05", "time": "09:00"})
    # A year is 52 weeks and a day: 2026-01-05 and 2027-01-04 are both Mondays.
    assert count_runs(schedule) == 53
    assert local(occurrences(schedule)[-1:]) == ["2027-01-04 09:00"]


def test_end_on_a_date_includes_that_date():
    schedule = parse(
        {
            "kind": "daily",
            "start": "2026-05-01",
            "time": "09:00",
            "end": {"kind": "on", "date": "2026-05-03"},
        }
    )
    assert local(occurrences(schedule)) == [
        "2026-05-01 09:00",
        "2026-05-02 09:00",
        "2026-05-03 09:00",
    ]


def test_end_exactly_one_year_after_the_start_is_allowed():
    schedule = parse(
        {
            "kind": "weekly",
            "start": "2026-12-01",
            "time": "09:00",
            "end": {"kind": "on", "date": "2027-12-01"},
        }
    )
    assert count_runs(schedule) == 53


def test_more_than_365_runs_is_refused():
    assert errors(
        {
            "kind": "daily",
            "start": "2026-01-01",
            "time": "09:00",
            "end": {"kind": "after", "count": 366},
        }
    ) == [("schedule.end.count", "too_many_runs")]


def test_end_more_than_one_year_after_the_start_is_refused():
    with pytest.raises(InvalidSchedule) as caught:
        parse(
            {
                "kind": "weekly",
                "start": "2026-12-01",
                "time": "09:00",
                "end": {"kind": "on", "date": "2027-12-02"},
            }
        )
    (error,) = caught.value.errors
    assert (error.path, error.code) == ("schedule.end.date", "too_long")
    assert "more than one year" in error.message and "2027-12-01" in error.message


def test_daily_until_one_year_later_is_refused_for_366_runs():
    with pytest.raises(InvalidSchedule) as caught:
        parse(
            {
                "kind": "daily",
                "start": "2026-01-01",
                "time": "09:00",
                "end": {"kind": "on", "date": "2027-01-01"},
            }
        )
    (error,) = caught.value.errors
    assert (error.path, error.code) == ("schedule.end.date", "too_many_runs")
    assert "366 runs" in error.message


def test_after_n_runs_that_take_more_than_a_year_is_refused():
    with pytest.raises(InvalidSchedule) as caught:
        parse(
            {
                "kind": "monthly",
                "start": "2026-01-10",
                "time": "09:00",
                "end": {"kind": "after", "count": 13},
            }
        )
    (error,) = caught.value.errors
    assert (error.path, error.code) == ("schedule.end.count", "too_long")
    assert "at most 12 fit" in error.message


def test_end_before_the_start_is_refused():
    assert errors(
        {
            "kind": "daily",
            "start": "2026-05-10",
            "time": "09:00",
            "end": {"kind": "on", "date": "2026-05-09"},
        }
    ) == [("schedule.end.date", "before_start")]


def test_a_schedule_entirely_in_the_past_is_refused_when_now_is_given():
    spec = {"kind": "once", "start": "2026-01-01", "time": "09:00"}
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert errors(spec, now=now) == [("schedule.start", "in_past")]
    assert parse(spec)  # without `now` the spec itself is valid


# --- preview and next ------------------------------------------------------------------------


def test_preview_gives_the_next_ten_after_now_and_the_total():
    schedule = parse(
        {
            "kind": "daily",
            "start": "2026-01-01",
            "time": "09:00",
            "end": {"kind": "after", "count": 30},
        }
    )
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    next_ten, total = preview(schedule, now)
    assert total == 30
    assert local(next_ten) == [f"2026-01-{d:02d} 09:00" for d in range(6, 16)]


def test_preview_near_the_end_gives_fewer_than_ten():
    schedule = parse(
        {
            "kind": "weekly",
            "start": "2026-01-05",
            "time": "09:00",
            "end": {"kind": "after", "count": 4},
        }
    )
    result = preview(schedule, datetime(2026, 1, 13, tzinfo=UTC))
    assert local(result.next) == ["2026-01-19 09:00", "2026-01-26 09:00"]
    assert result.total == 4


def test_next_occurrence_is_strictly_after_and_none_when_over():
    schedule = parse(
        {
            "kind": "daily",
            "start": "2026-02-01",
            "time": "09:00",
            "end": {"kind": "after", "count": 2},
        }
    )
    first, second = occurrences(schedule)
    assert next_occurrence(schedule, first - timedelta(seconds=1)) == first
    assert next_occurrence(schedule, first) == second
    assert next_occurrence(schedule, second) is None


def test_to_json_round_trips():
    schedule = parse(
        {
            "kind": "monthly",
            "start": "2026-03-01",
            "time": "08:05",
            "months": [12, 3],
            "days": [31, 1],
            "end": {"kind": "on", "date": "2026-12-31"},
        }
    )
    data = schedule.to_json()
    assert data["months"] == [3, 12] and data["days"] == [1, 31]
    assert data["timezone"] == "Europe/Rome"
    assert parse_schedule(data, default_timezone="UTC") == schedule


# --- daylight saving -------------------------------------------------------------------------


def test_nine_in_rome_stays_nine_in_winter_and_summer():
    schedule = parse(
        {"kind": "weekly", "start": "2026-03-02", "time": "09:00", "weekdays": ["sun"]}
    )
    runs = {m.astimezone(ROME).date(): m for m in occurrences(schedule)}
    assert runs[date(2026, 3, 22)].hour == 8  # CET, UTC+1
    assert runs[date(2026, 3, 29)].hour == 7  # CEST from this day on, UTC+2
    assert runs[date(2026, 10, 25)].hour == 8  # CET again
    assert {m.astimezone(ROME).time() for m in runs.values()} == {time(9, 0)}


def test_a_missing_local_time_is_shifted_forward_by_the_gap():
    # Europe/Rome jumps from 02:00 to 03:00 on 2026-03-29: 02:30 does not exist.
    schedule = parse({"kind": "once", "start": "2026-03-29", "time": "02:30"})
    (moment,) = occurrences(schedule)
    assert moment == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert moment.astimezone(ROME).strftime("%H:%M %Z") == "03:30 CEST"


def test_an_ambiguous_local_time_takes_its_first_occurrence():
    # Europe/Rome goes from 03:00 CEST back to 02:00 CET on 2026-10-25: 02:30 happens twice.
    schedule = parse({"kind": "once", "start": "2026-10-25", "time": "02:30"})
    (moment,) = occurrences(schedule)
    assert moment == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert moment.astimezone(ROME).strftime("%H:%M %Z") == "02:30 CEST"


def test_new_york_daily_across_both_transitions():
    schedule = parse(
        {
            "kind": "daily",
            "start": "2026-03-07",
            "time": "02:30",
            "timezone": "America/New_York",
            "end": {"kind": "after", "count": 3},
        }
    )
    # 2026-03-08: 02:00 -> 03:00 in New York; the gap time runs at 03:30 EDT.
    assert local(occurrences(schedule), NEW_YORK) == [
        "2026-03-07 02:30",
        "2026-03-08 03:30",
        "2026-03-09 02:30",
    ]
    autumn = parse(
        {
            "kind": "daily",
            "start": "2026-10-31",
            "time": "01:30",
            "timezone": "America/New_York",
            "end": {"kind": "after", "count": 3},
        }
    )
    runs = occurrences(autumn)
    # 2026-11-01 01:30 happens twice; the first is EDT (UTC-4).
    assert runs[1] == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert [r.astimezone(NEW_YORK).strftime("%H:%M") for r in runs] == ["01:30"] * 3


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_reports_every_error_with_its_path():
    found = errors(
        {
            "kind": "weekly",
            "start": "2026-02-30",
            "time": "25:00",
            "timezone": "Mars/Olympus",
            "weekdays": ["mon", "funday"],
            "every": 0,
            "colour": "blue",
        }
    )
    assert found == [
        ("schedule.colour", "unknown_key"),
        ("schedule.start", "invalid"),
        ("schedule.time", "invalid"),
        ("schedule.timezone", "unknown_timezone"),
        ("schedule.every", "out_of_range"),
        ("schedule.weekdays[1]", "unknown_weekday"),
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("daily", [("schedule", "invalid")]),
        (
            {"kind": "hourly", "start": "2026-01-01", "time": "09:00"},
            [("schedule.kind", "invalid")],
        ),
        ({"kind": "daily", "time": "09:00"}, [("schedule.start", "required")]),
        ({"kind": "daily", "start": "2026-01-01"}, [("schedule.time", "required")]),
        ({"kind": "daily", "start": "2026-01-01", "time": "9am"}, [("schedule.time", "invalid")]),
        ({"kind": "daily", "start": "2026-01-01", "time": "12:60"}, [("schedule.time", "invalid")]),
        (
            {"kind": "weekly", "start": "2026-01-01", "time": "09:00", "weekdays": []},
            [("schedule.weekdays", "empty")],
        ),
        (
            {"kind": "weekly", "start": "2026-01-01", "time": "09:00", "weekdays": [1]},
            [("schedule.weekdays[0]", "unknown_weekday")],
        ),
        (
            {"kind": "monthly", "start": "2026-01-01", "time": "09:00", "months": [0, 13]},
            [("schedule.months[0]", "out_of_range"), ("schedule.months[1]", "out_of_range")],
        ),
        (
            {"kind": "monthly", "start": "2026-01-01", "time": "09:00", "days": [32]},
            [("schedule.days[0]", "out_of_range")],
        ),
        (
            {"kind": "once", "start": "2026-01-01", "time": "09:00", "end": {"kind": "never"}},
            [("schedule.end", "not_allowed")],
        ),
        (
            {"kind": "monthly", "start": "2026-01-01", "time": "09:00", "every": 2},
            [("schedule.every", "not_allowed")],
        ),
        (
            {"kind": "daily", "start": "2026-01-01", "time": "09:00", "end": {"kind": "soon"}},
            [("schedule.end.kind", "invalid")],
        ),
        (
            {"kind": "daily", "start": "2026-01-01", "time": "09:00", "end": {"kind": "after"}},
            [("schedule.end.count", "invalid")],
        ),
        (
            {
                "kind": "daily",
                "start": "2026-01-01",
                "time": "09:00",
                "end": {"kind": "after", "count": 0},
            },
            [("schedule.end.count", "out_of_range")],
        ),
        (
            {
                "kind": "daily",
                "start": "2026-01-01",
                "time": "09:00",
                "end": {"kind": "after", "count": 3, "date": "2026-02-01"},
            },
            [("schedule.end.date", "not_allowed")],
        ),
        (
            {"kind": "daily", "start": "2026-01-01", "time": "09:00", "end": {"kind": "on"}},
            [("schedule.end.date", "required")],
        ),
    ],
)
def test_bad_specs_are_refused_with_a_path_and_code(spec, expected):
    assert errors(spec) == expected


def test_unknown_default_time_zone_is_reported_on_the_timezone_path():
    with pytest.raises(InvalidSchedule) as caught:
        parse_schedule(
            {"kind": "once", "start": "2026-01-01", "time": "09:00"}, default_timezone="Nowhere/X"
        )
    assert [(e.path, e.code) for e in caught.value.errors] == [
        ("schedule.timezone", "unknown_timezone")
    ]


# --- properties ------------------------------------------------------------------------------

ZONES = [
    "Europe/Rome",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute daylight saving
    "Europe/Dublin",  # "negative" daylight saving in tzdata
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
]


@st.composite
def specs(draw) -> dict:
    kind = draw(st.sampled_from(["daily", "weekly", "monthly"]))
    start = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
    spec: dict = {
        "kind": kind,
        "start": start.isoformat(),
        "time": f"{draw(st.integers(0, 23)):02d}:{draw(st.sampled_from([0, 15, 30, 59])):02d}",
        "timezone": draw(st.sampled_from(ZONES)),
    }
    if kind in ("daily", "weekly"):
        spec["every"] = draw(st.integers(1, 4))
    if kind == "weekly":
        spec["weekdays"] = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7))
    if kind == "monthly":
        spec["months"] = draw(st.lists(st.integers(1, 12), min_size=1, max_size=12))
        spec["days"] = draw(st.lists(st.integers(1, 31), min_size=1, max_size=5))
    end = draw(st.sampled_from(["never", "after", "on"]))
    if end == "after":
        spec["end"] = {"kind": "after", "count": draw(st.integers(1, 12))}
    elif end == "on":
        spec["end"] = {
            "kind": "on",
            "date": (start + timedelta(days=draw(st.integers(0, 200)))).isoformat(),
        }
    return spec


@settings(max_examples=150, deadline=None)
@given(specs())
def test_occurrences_are_increasing_bounded_and_at_the_wall_time(spec):
    try:
        schedule = parse_schedule(spec, default_timezone="UTC")
    except InvalidSchedule as invalid:
        # Only the documented whole-sequence refusals can happen for these generated specs.
        assert {e.code for e in invalid.errors} <= {"no_runs", "too_long"}
        return
    zone = schedule.zone
    runs = occurrences(schedule)
    assert 1 <= len(runs) <= MAX_RUNS
    assert runs == sorted(set(runs))
    assert all(r.tzinfo is UTC for r in runs)
    assert len(runs) == count_runs(schedule)
    if schedule.end.kind == "after":
        assert len(runs) == schedule.end.count
    for run in runs:
        wall = run.astimezone(zone)
        day = wall.date()
        assert schedule.start <= day <= one_year_after(schedule.start)
        if schedule.end.kind == "on":
            assert day <= schedule.end.date
        naive = datetime.combine(day, schedule.time)
        if wall.replace(tzinfo=None) != naive:
            # Only a spring-forward gap moves a run: it moves forward by the gap, same day.
            gap = wall.replace(tzinfo=None) - naive
            assert timedelta(0) < gap <= timedelta(hours=1)
            assert datetime.combine(day, schedule.time, tzinfo=zone).astimezone(UTC) == run
        if schedule.kind == "weekly":
            assert day.weekday() in schedule.weekdays
        if schedule.kind == "monthly":
            assert day.month in schedule.months and day.day in schedule.days


@settings(max_examples=60, deadline=None)
@given(specs(), st.integers(0, 400))
def test_next_occurrence_walks_the_same_sequence(spec, offset_days):
    try:
        schedule = parse_schedule(spec, default_timezone="UTC")
    except InvalidSchedule:
        return
    runs = occurrences(schedule)
    after = datetime.combine(schedule.start, time(0), tzinfo=UTC) + timedelta(days=offset_days)
    expected = [r for r in runs if r > after]
    assert next_occurrence(schedule, after) == (expected[0] if expected else None)
    assert preview(schedule, after) == (expected[:10], len(runs))
