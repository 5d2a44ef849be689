"""schedulePreview of unsaved schedules and planCalendar buckets, through GraphQL over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise import connections

from models import Plan
from tests.schema.plans_support import create_plan, gid, make_segment

PREVIEW = (
    "query($s: ScheduleInput!, $db: ID) { schedulePreview(schedule: $s, databaseId: $db) {"
    " preview { next total } userErrors { path message code } } }"
)

CALENDAR = (
    "query($db: ID!, $from: Date!, $to: Date!, $grain: CalendarGrain!) {"
    " planCalendar(databaseId: $db, from: $from, to: $to, grain: $grain) { timezone grain"
    " buckets { start end entries { at planned plan { name } run { id state } } } } }"
)


async def test_preview_of_a_weekly_schedule_keeps_local_time_across_dst(gql, accounts):
    schedule = {"kind": "WEEKLY", "start": "2027-03-15", "time": "09:00", "weekdays": ["MON"],
                "end": {"kind": "AFTER", "count": 4}}  # fmt: skip
    result = await gql.execute(
        PREVIEW,
        {"s": schedule, "db": gid("Database", accounts.database.id)},  # Europe/Rome
        token=accounts.token["GUEST"],
    )
    assert result["data"]["schedulePreview"] == {
        "preview": {
            "next": [
                "2027-03-15T08:00:00+00:00",
                "2027-03-22T08:00:00+00:00",
                "2027-03-29T07:00:00+00:00",  # summer time from 28 March: still 09:00 local
                "2027-04-05T07:00:00+00:00",
            ],
            "total": 4,
        },
        "userErrors": [],
    }


async def test_preview_gives_ten_dates_and_the_total(gql, accounts):
    schedule = {"kind": "MONTHLY", "start": "2027-01-01", "time": "12:00", "days": [30],
                "timezone": "UTC"}  # fmt: skip
    result = await gql.execute(PREVIEW, {"s": schedule}, token=accounts.token["GUEST"])
    preview = result["data"]["schedulePreview"]["preview"]
    assert preview["total"] == 11  # one year; 30 February skipped
    assert len(preview["next"]) == 10
    assert "2027-02-30" not in " ".join(preview["next"])
    assert preview["next"][1] == "2027-03-30T12:00:00+00:00"


async def test_preview_refuses_more_than_a_year_or_365_runs(gql, accounts):
    too_long = {"kind": "DAILY", "start": "2027-01-01", "time": "08:00",
                "end": {"kind": "ON", "date": "2028-03-01"}}  # fmt: skip
    too_many = {"kind": "DAILY", "start": "2027-01-01", "time": "08:00",
                "end": {"kind": "AFTER", "count": 400}}  # fmt: skip
    bad_zone = {"kind": "ONCE", "start": "2027-01-01", "time": "25:00", "timezone": "Mars/Base"}
    found = []
    for schedule in (too_long, too_many, bad_zone):
        result = await gql.execute(PREVIEW, {"s": schedule}, token=accounts.token["USER"])
        payload = result["data"]["schedulePreview"]
        assert payload["preview"] is None
        found.append([(e["path"], e["code"]) for e in payload["userErrors"]])
    assert found == [
        [(["schedule", "end", "date"], "TOO_LONG")],
        [(["schedule", "end", "count"], "TOO_MANY_RUNS")],
        [(["schedule", "time"], "INVALID"), (["schedule", "timezone"], "UNKNOWN_TIMEZONE")],
    ]


async def test_preview_needs_authentication(gql):
    schedule = {"kind": "ONCE", "start": "2027-01-01", "time": "08:00"}
    result = await gql.execute(PREVIEW, {"s": schedule})
    assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def _stored_run(plan_id: int, at: datetime, state: str = "completed") -> int:
    rows = await connections.get("default").execute_query_dict(
        "INSERT INTO plan_run (plan_id, trigger, scheduled_for, as_of, state, funnel, created_at)"
        " VALUES ($1, 'schedule', $2, $2, $3, '{}', now()) RETURNING id",
        [plan_id, at, state],
    )
    return rows[0]["id"]


async def test_calendar_buckets_past_runs_and_future_occurrences(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    token = accounts.token["USER"]
    daily = await create_plan(
        gql, token, accounts.database, segment, name="Daily",
        schedule={"kind": "DAILY", "start": "2027-01-04", "time": "23:30",
                  "end": {"kind": "AFTER", "count": 5}},
    )  # fmt: skip
    ready = await gql.execute(
        "mutation($id: ID!) { markPlanReady(id: $id) { plan { state } } }",
        {"id": daily["plan"]["id"]},
        token=token,
    )
    assert ready["data"]["markPlanReady"]["plan"]["state"] == "ACTIVE"
    await create_plan(gql, token, accounts.database, segment, name="Draft only")  # not planned
    once = await create_plan(
        gql, token, accounts.database, segment, name="Past",
        schedule={"kind": "ONCE", "start": "2027-01-20", "time": "10:00"},
    )  # fmt: skip
    past_id = (await Plan.get(name="Past")).id
    run_id = await _stored_run(past_id, datetime(2026, 12, 31, 23, 30, tzinfo=UTC))  # 1 Jan Rome
    await Plan.filter(id=past_id).update(state="archived")

    days = await gql.execute(
        CALENDAR,
        {"db": gid("Database", accounts.database.id), "from": "2027-01-01", "to": "2027-01-07",
         "grain": "DAY"},
        token=accounts.token["GUEST"],
    )  # fmt: skip
    calendar = days["data"]["planCalendar"]
    assert calendar["timezone"] == "Europe/Rome" and calendar["grain"] == "DAY"
    assert [b["start"] for b in calendar["buckets"]] == [f"2027-01-0{d}" for d in range(1, 8)]
    by_day = {b["start"]: b["entries"] for b in calendar["buckets"]}
    assert by_day["2027-01-01"] == [{
        "at": "2026-12-31T23:30:00+00:00", "planned": False, "plan": {"name": "Past"},
        "run": {"id": gid("PlanRun", run_id), "state": "COMPLETED"},
    }]  # fmt: skip
    assert [len(by_day[f"2027-01-0{d}"]) for d in range(2, 8)] == [0, 0, 1, 1, 1, 1]
    assert by_day["2027-01-04"] == [
        {"at": "2027-01-04T22:30:00+00:00", "planned": True, "plan": {"name": "Daily"},
         "run": None}
    ]  # fmt: skip

    weeks = await gql.execute(
        CALENDAR,
        {"db": gid("Database", accounts.database.id), "from": "2027-01-01", "to": "2027-01-31",
         "grain": "WEEK"},
        token=token,
    )  # fmt: skip
    counts = {b["start"]: len(b["entries"]) for b in weeks["data"]["planCalendar"]["buckets"]}
    assert counts == {"2026-12-28": 1, "2027-01-04": 5, "2027-01-11": 0, "2027-01-18": 0,
                      "2027-01-25": 0}  # fmt: skip
    months = await gql.execute(
        CALENDAR,
        {"db": gid("Database", accounts.database.id), "from": "2026-12-01", "to": "2027-02-28",
         "grain": "MONTH"},
        token=token,
    )  # fmt: skip
    buckets = months["data"]["planCalendar"]["buckets"]
    assert [(b["start"], b["end"], len(b["entries"])) for b in buckets] == [
        ("2026-12-01", "2027-01-01", 0),
        ("2027-01-01", "2027-02-01", 6),
        ("2027-02-01", "2027-03-01", 0),
    ]
    assert once["plan"]["name"] == "Past"


async def test_calendar_of_another_database_is_not_found_and_range_is_bounded(gql, accounts):
    other = await gql.execute(
        CALENDAR,
        {"db": gid("Database", accounts.other_database.id), "from": "2027-01-01",
         "to": "2027-01-07", "grain": "DAY"},
        token=accounts.token["USER"],
    )  # fmt: skip
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    too_long = await gql.execute(
        CALENDAR,
        {"db": gid("Database", accounts.database.id), "from": "2027-01-01",
         "to": "2028-06-01", "grain": "MONTH"},
        token=accounts.token["USER"],
    )  # fmt: skip
    assert too_long["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
