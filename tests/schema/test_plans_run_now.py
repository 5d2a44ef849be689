"""runPlanNow over GraphQL: who may run a plan now, in which states, audited; the author filter."""

from __future__ import annotations

from models import AuditEntry, Plan, PlanRun
from tests.schema.plans_support import create_plan, gid, make_segment

RUN_NOW = (
    "mutation($id: ID!) { runPlanNow(id: $id) { run { id trigger state plan { state }"
    " progress { state toSend finished } } userErrors { path message code } } }"
)
READY = "mutation($id: ID!) { markPlanReady(id: $id) { plan { state } userErrors { code } } }"


async def _ready_plan(gql, accounts, profile: str = "USER") -> str:
    segment = await make_segment(accounts.database, accounts.users[profile])
    token = accounts.token[profile]
    plan = (await create_plan(gql, token, accounts.database, segment))["plan"]
    ready = await gql.execute(READY, {"id": plan["id"]}, token=token)
    assert ready["data"]["markPlanReady"]["plan"]["state"] == "ACTIVE"
    return plan["id"]


async def test_the_author_runs_a_plan_now_and_it_is_audited(gql, accounts):
    plan_id = await _ready_plan(gql, accounts)
    result = await gql.execute(RUN_NOW, {"id": plan_id}, token=accounts.token["USER"])
    assert "errors" not in result, result
    payload = result["data"]["runPlanNow"]
    assert payload["userErrors"] == []
    run = payload["run"]
    assert run["trigger"] == "MANUAL" and run["state"] == "PENDING"
    assert run["plan"] == {"state": "ACTIVE"}  # a recurrence keeps its schedule
    assert run["progress"] == {"state": "PENDING", "toSend": 0, "finished": False}
    (stored,) = await PlanRun.all()
    assert gid("PlanRun", stored.id) == run["id"] and stored.trigger == "manual"
    entry = await AuditEntry.get(object_type="plan", action="run_now")
    assert entry.after == {"run_id": stored.id}
    again = await gql.execute(RUN_NOW, {"id": plan_id}, token=accounts.token["USER"])
    assert again["data"]["runPlanNow"]["run"] is None
    assert [(e["path"], e["code"]) for e in again["data"]["runPlanNow"]["userErrors"]] == [
        ([], "RUNNING")
    ]
    assert await PlanRun.all().count() == 1


async def test_a_draft_plan_does_not_run_now(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    plan = (await create_plan(gql, accounts.token["USER"], accounts.database, segment))["plan"]
    result = await gql.execute(RUN_NOW, {"id": plan["id"]}, token=accounts.token["USER"])
    payload = result["data"]["runPlanNow"]
    assert payload["run"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_STATE"]
    assert "ready" in payload["userErrors"][0]["message"]
    assert await PlanRun.all().count() == 0
    assert await AuditEntry.filter(action="run_now").count() == 0


async def test_guest_and_other_users_may_not_run_a_plan_poweruser_may(gql, accounts):
    plan_id = await _ready_plan(gql, accounts, "POWERUSER")
    for profile in ("GUEST", "USER"):
        denied = await gql.execute(RUN_NOW, {"id": plan_id}, token=accounts.token[profile])
        assert denied["data"]["runPlanNow"] is None
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", (profile, denied)
    assert await PlanRun.all().count() == 0
    mine = await _ready_plan(gql, accounts, "USER")
    allowed = await gql.execute(RUN_NOW, {"id": mine}, token=accounts.token["POWERUSER"])
    assert allowed["data"]["runPlanNow"]["userErrors"] == []  # manage_others


async def test_another_databases_plan_is_not_found(gql, accounts):
    segment = await make_segment(accounts.other_database, accounts.users["ADMIN"])
    plan = (await create_plan(gql, accounts.token["ADMIN"], accounts.other_database, segment))[
        "plan"
    ]
    await Plan.all().update(state="ready")
    denied = await gql.execute(RUN_NOW, {"id": plan["id"]}, token=accounts.token["USER"])
    assert denied["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await PlanRun.all().count() == 0


async def test_plans_filter_by_author_global_id(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    await create_plan(gql, accounts.token["USER"], accounts.database, segment, name="Mine")
    await create_plan(gql, accounts.token["POWERUSER"], accounts.database, segment, name="Theirs")
    query = "query($a: ID!) { plans(filter: {authorId: $a}) { edges { node { name } } } }"
    user = gid("User", accounts.users["USER"].id)
    found = await gql.execute(query, {"a": user}, token=accounts.token["GUEST"])
    assert [e["node"]["name"] for e in found["data"]["plans"]["edges"]] == ["Mine"]
    wrong_type = await gql.execute(
        query, {"a": gid("Plan", accounts.users["USER"].id)}, token=accounts.token["GUEST"]
    )
    assert wrong_type["errors"][0]["extensions"]["code"] == "NOT_FOUND"
