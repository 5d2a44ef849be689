"""No N+1 in plan lists: the statements sent do not grow with the number of plans or runs."""

from __future__ import annotations

from models import DndPolicy, Plan
from tests.schema.plans_support import gid, insert_runs, make_segment
from tests.schema.statement_counter import count_statements

PLANS = """{ plans(first: 100) { totalCount edges { node {
  id name state version editable nextRunAt
  schedule { kind time } options { batchSize } consumers { __typename }
  author { username } segment { name } database { name } dndPolicy { name }
} } } }"""

RUNS = """query($id: ID!) { plan(id: $id) { runs(first: 100) { totalCount edges { node {
  id state trigger scheduledFor funnel { recipients } timings { startedAt } plan { name }
  consumers { status } progress { state toSend sent batches finished }
} } } } }"""


async def _plans(accounts, count: int) -> list[Plan]:
    policy = await DndPolicy.create(
        database=accounts.database, name="p", rules=[], author=accounts.users["ADMIN"]
    )
    plans = []
    for n in range(count):
        author = accounts.users["USER" if n % 2 else "POWERUSER"]
        segment = await make_segment(accounts.database, author, name=f"s{n}")
        plans.append(
            await Plan.create(
                database=accounts.database, segment=segment, author=author, name=f"p{n}",
                schedule={"kind": "once", "start": "2027-01-01", "time": "09:00",
                          "timezone": "UTC"},
                dnd_policy=policy,
            )
        )  # fmt: skip
    return plans


async def test_plan_list_statements_do_not_grow_with_the_plans(gql, accounts):
    token = accounts.token["USER"]
    await _plans(accounts, 1)
    with count_statements() as one:
        first = await gql.execute(PLANS, token=token)
    await _plans(accounts, 19)
    with count_statements() as twenty:
        many = await gql.execute(PLANS, token=token)
    assert first["data"]["plans"]["totalCount"] == 1
    assert many["data"]["plans"]["totalCount"] == 20
    assert all(e["node"]["segment"] and e["node"]["author"] for e in many["data"]["plans"]["edges"])
    assert one.count >= 5, one.statements  # plans, count, segments, users, databases, policies
    assert twenty.count == one.count, twenty.statements


async def test_run_list_statements_do_not_grow_with_the_runs(gql, accounts):
    (plan,) = await _plans(accounts, 1)
    token = accounts.token["GUEST"]
    await insert_runs(plan.id, 1)
    with count_statements() as one:
        await gql.execute(RUNS, {"id": gid("Plan", plan.id)}, token=token)
    await insert_runs(plan.id, 30, offset=1)
    with count_statements() as many:
        result = await gql.execute(RUNS, {"id": gid("Plan", plan.id)}, token=token)
    assert result["data"]["plan"]["runs"]["totalCount"] == 31
    progress = [e["node"]["progress"] for e in result["data"]["plan"]["runs"]["edges"]]
    assert len(progress) == 31 and all(p["state"] == "COMPLETED" for p in progress)
    assert sum("delivery_batch" in s for s in many.statements) == 1  # one progress statement
    assert many.count == one.count, many.statements
