"""Helpers of the plan, calendar and DND GraphQL tests: ids, a segment, a plan input."""

from __future__ import annotations

from typing import Any

from models import Segment
from schema.relay import global_id

SEGMENT_DEFINITION = {
    "root": {"contact": {"conditions": [{"field": "city", "op": "eq", "value": "Rome"}]}}
}

EMAIL = {
    "delivery": {
        "channel": "EMAIL",
        "template": "welcome",
        "sender": "shop@example.com",
        "subject": "Hello",
        "labels": ["promo"],
    }
}

PLAN_FIELDS = """
id name description state version editable nextRunAt runsDone
schedule { kind start time timezone every weekdays months days end { kind count date } }
options { listGeneration { mode daysBefore } contacts { mode count min max } ifNotReached
          topUpPercent controlGroupPercent maxSendRate batchSize maxErrorRate }
consumers {
  __typename
  ... on DeliveryConsumer { position channel template sender subject labels }
  ... on ExportConsumer { position label }
  ... on WebhookConsumer { position url fields { key value } }
}
author { username } segment { id name } database { id name }
"""

CREATE_PLAN = (
    "mutation($input: CreatePlanInput!) { createPlan(input: $input) {"
    " plan { " + PLAN_FIELDS + " } userErrors { path message code } } }"
)

UPDATE_PLAN = (
    "mutation($input: UpdatePlanInput!) { updatePlan(input: $input) {"
    " plan { id name version state } userErrors { path message code } } }"
)


def gid(type_name: str, pk: int) -> str:
    """The global id string of object `pk` of `type_name`."""
    return str(global_id(type_name, pk))


async def make_segment(database: Any, author: Any, name: str = "Romans") -> Segment:
    """A segment of `database` (city = Rome)."""
    return await Segment.create(
        database=database, name=name, author=author, definition=SEGMENT_DEFINITION
    )


def plan_input(database: Any, segment: Segment, **overrides: Any) -> dict[str, Any]:
    """A createPlan input: weekly on Monday and Thursday at 09:00, one email delivery."""
    data: dict[str, Any] = {
        "databaseId": gid("Database", database.id),
        "segmentId": gid("Segment", segment.id),
        "name": "Weekly newsletter",
        "schedule": {
            "kind": "WEEKLY",
            "start": "2027-01-04",
            "time": "09:00",
            "weekdays": ["MON", "THU"],
            "end": {"kind": "AFTER", "count": 10},
        },
        "consumers": [EMAIL],
    }
    return data | overrides


async def create_plan(gql: Any, token: str, database: Any, segment: Segment, **overrides: Any):
    """createPlan's payload (asserting no top-level errors)."""
    result = await gql.execute(
        CREATE_PLAN, {"input": plan_input(database, segment, **overrides)}, token=token
    )
    assert "errors" not in result, result
    return result["data"]["createPlan"]


async def insert_runs(plan_id: int, count: int, *, offset: int = 0) -> list[int]:
    """`count` completed scheduled runs of a plan, one a day from 2027-01-01 + offset days."""
    from tortoise import connections

    rows = await connections.get("default").execute_query_dict(
        "INSERT INTO plan_run (plan_id, trigger, scheduled_for, as_of, state, funnel, created_at)"
        " SELECT $1, 'schedule', t, t, 'completed', '{\"pending\": 5}', now()"
        " FROM generate_series(timestamptz '2027-01-01' + make_interval(days => $2),"
        " timestamptz '2027-01-01' + make_interval(days => $2 + $3 - 1), interval '1 day') t"
        " RETURNING id",
        [plan_id, offset, count],
    )
    return [row["id"] for row in rows]
