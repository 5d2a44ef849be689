"""Plans through GraphQL over HTTP: create, read, update with versions, permissions, states."""

from __future__ import annotations

from datetime import UTC, datetime

from models import AuditEntry, Plan, PlanRun, Segment
from tests.schema.plans_support import (
    CREATE_PLAN,
    UPDATE_PLAN,
    create_plan,
    gid,
    make_segment,
    plan_input,
)

PLAN = "query($id: ID!) { plan(id: $id) { id name editable state version segment { name } } }"


async def test_create_plan_on_a_segment_reads_back_typed(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    payload = await create_plan(
        gql,
        accounts.token["USER"],
        accounts.database,
        segment,
        options={
            "listGeneration": {"mode": "DAYS_BEFORE", "daysBefore": 2},
            "contacts": {"mode": "RANGE", "min": 100, "max": 500},
            "ifNotReached": "TOP_UP",
            "topUpPercent": 20,
            "controlGroupPercent": 10,
            "maxSendRate": 300,
        },
        consumers=[
            {"delivery": {"channel": "SMS", "template": "sms-1", "sender": "Shop"}},
            {"export": {"label": "list"}},
            {"webhook": {"url": "https://hooks.example/x", "fields": [{"key": "k", "value": "v"}]}},
        ],
    )
    assert payload["userErrors"] == []
    plan = payload["plan"]
    assert plan["state"] == "DRAFT" and plan["version"] == 1 and plan["editable"] is True
    assert plan["author"] == {"username": "user"}
    assert plan["segment"]["name"] == "Romans"
    assert plan["database"]["name"] == "Main"
    assert plan["nextRunAt"] is None
    assert plan["schedule"] == {
        "kind": "WEEKLY",
        "start": "2027-01-04",
        "time": "09:00",
        "timezone": "Europe/Rome",  # the database's
        "every": 1,
        "weekdays": ["MON", "THU"],
        "months": None,
        "days": None,
        "end": {"kind": "AFTER", "count": 10, "date": None},
    }
    assert plan["options"] == {
        "listGeneration": {"mode": "DAYS_BEFORE", "daysBefore": 2},
        "contacts": {"mode": "RANGE", "count": None, "min": 100, "max": 500},
        "ifNotReached": "TOP_UP",
        "topUpPercent": 20.0,
        "controlGroupPercent": 10.0,
        "maxSendRate": 300,
        "batchSize": 1000,
        "maxErrorRate": 0.2,
    }
    assert plan["consumers"] == [
        {"__typename": "DeliveryConsumer", "position": 0, "channel": "SMS", "template": "sms-1",
         "sender": "Shop", "subject": None, "labels": []},
        {"__typename": "ExportConsumer", "position": 1, "label": "list"},
        {"__typename": "WebhookConsumer", "position": 2, "url": "https://hooks.example/x",
         "fields": [{"key": "k", "value": "v"}]},
    ]  # fmt: skip
    preview = await gql.execute(
        "query($id: ID!) { plan(id: $id) { schedulePreview { next total } } }",
        {"id": plan["id"]},
        token=accounts.token["GUEST"],
    )
    found = preview["data"]["plan"]["schedulePreview"]
    assert found["total"] == 10 and len(found["next"]) == 10
    assert found["next"][0] == "2027-01-04T08:00:00+00:00"  # 09:00 in Rome (winter)
    audit = await AuditEntry.filter(object_type="plan", action="create").count()
    assert audit == 1


async def test_input_mistakes_are_user_errors_with_paths_and_nothing_is_created(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    bad_subject = plan_input(
        accounts.database,
        segment,
        consumers=[{"export": {}}, {"delivery": {"channel": "EMAIL", "template": "t"}}],
    )
    result = await gql.execute(CREATE_PLAN, {"input": bad_subject}, token=accounts.token["USER"])
    assert result["data"]["createPlan"]["userErrors"] == [
        {"path": ["consumers", "1", "delivery", "subject"], "message": "is required for an email",
         "code": "REQUIRED"}
    ]  # fmt: skip
    bad_control = plan_input(accounts.database, segment, options={"controlGroupPercent": 100})
    result = await gql.execute(CREATE_PLAN, {"input": bad_control}, token=accounts.token["USER"])
    errors = result["data"]["createPlan"]["userErrors"]
    assert [(e["path"], e["code"]) for e in errors] == [
        (["options", "controlGroupPercent"], "OUT_OF_RANGE")
    ]
    no_days = plan_input(
        accounts.database, segment, options={"listGeneration": {"mode": "DAYS_BEFORE"}}
    )
    result = await gql.execute(CREATE_PLAN, {"input": no_days}, token=accounts.token["USER"])
    errors = result["data"]["createPlan"]["userErrors"]
    assert [(e["path"], e["code"]) for e in errors] == [
        (["options", "listGeneration", "daysBefore"], "INVALID")
    ]
    long_schedule = plan_input(
        accounts.database,
        segment,
        schedule={"kind": "DAILY", "start": "2027-01-01", "time": "10:00",
                  "end": {"kind": "ON", "date": "2028-06-01"}},
    )  # fmt: skip
    result = await gql.execute(CREATE_PLAN, {"input": long_schedule}, token=accounts.token["USER"])
    errors = result["data"]["createPlan"]["userErrors"]
    assert [(e["path"], e["code"]) for e in errors] == [(["schedule", "end", "date"], "TOO_LONG")]
    assert await Plan.all().count() == 0


async def test_segment_of_another_database_is_not_found_as_user_error(gql, accounts):
    other = await make_segment(accounts.other_database, accounts.users["ADMIN"])
    result = await gql.execute(
        CREATE_PLAN,
        {"input": plan_input(accounts.database, other)},
        token=accounts.token["ADMIN"],
    )
    errors = result["data"]["createPlan"]["userErrors"]
    assert [(e["path"], e["code"]) for e in errors] == [(["segmentId"], "NOT_FOUND")]


async def test_stale_version_gives_conflict_and_the_current_plan(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    plan = (await create_plan(gql, accounts.token["USER"], accounts.database, segment))["plan"]
    first = await gql.execute(
        UPDATE_PLAN, {"input": {"id": plan["id"], "version": 1, "name": "Renamed"}},
        token=accounts.token["USER"],
    )  # fmt: skip
    assert first["data"]["updatePlan"]["plan"]["version"] == 2
    stale = await gql.execute(
        UPDATE_PLAN, {"input": {"id": plan["id"], "version": 1, "name": "Mine"}},
        token=accounts.token["USER"],
    )  # fmt: skip
    payload = stale["data"]["updatePlan"]
    assert [(e["path"], e["code"]) for e in payload["userErrors"]] == [(["version"], "CONFLICT")]
    assert payload["plan"] == {"id": plan["id"], "name": "Renamed", "version": 2,
                               "state": "DRAFT"}  # fmt: skip
    assert (await Plan.first()).name == "Renamed"


async def test_guest_reads_plans_but_cannot_create_or_change_them(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    plan = (await create_plan(gql, accounts.token["USER"], accounts.database, segment))["plan"]
    read = await gql.execute(PLAN, {"id": plan["id"]}, token=accounts.token["GUEST"])
    assert read["data"]["plan"]["name"] == "Weekly newsletter"
    assert read["data"]["plan"]["editable"] is False
    created = await gql.execute(
        CREATE_PLAN, {"input": plan_input(accounts.database, segment)},
        token=accounts.token["GUEST"],
    )  # fmt: skip
    assert created["data"]["createPlan"] is None
    assert created["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ready = await gql.execute(
        "mutation($id: ID!) { markPlanReady(id: $id) { plan { state } } }",
        {"id": plan["id"]},
        token=accounts.token["GUEST"],
    )
    assert ready["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await Plan.filter(state="draft").count() == 1


async def test_user_cannot_edit_another_users_plan_poweruser_can(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["POWERUSER"])
    plan = (await create_plan(gql, accounts.token["POWERUSER"], accounts.database, segment))["plan"]
    read = await gql.execute(PLAN, {"id": plan["id"]}, token=accounts.token["USER"])
    assert read["data"]["plan"]["editable"] is False
    update = {"input": {"id": plan["id"], "version": 1, "name": "Hijacked"}}
    denied = await gql.execute(UPDATE_PLAN, update, token=accounts.token["USER"])
    assert denied["data"]["updatePlan"] is None
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    deleted = await gql.execute(
        "mutation($id: ID!) { deletePlan(id: $id) { deletedId } }",
        {"id": plan["id"]},
        token=accounts.token["USER"],
    )
    assert deleted["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    own = await create_plan(gql, accounts.token["USER"], accounts.database, segment)
    allowed = await gql.execute(
        UPDATE_PLAN,
        {"input": {"id": own["plan"]["id"], "version": 1, "name": "Mine"}},
        token=accounts.token["POWERUSER"],  # manage_others
    )
    assert allowed["data"]["updatePlan"]["plan"]["name"] == "Mine"
    assert await Plan.filter(name="Weekly newsletter", version=1).count() == 1  # not hijacked


async def test_life_cycle_ready_reopen_and_archived_reopen_admin_only(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    plan = (await create_plan(gql, accounts.token["USER"], accounts.database, segment))["plan"]
    ready = await gql.execute(
        "mutation($id: ID!) { markPlanReady(id: $id) { plan { state nextRunAt }"
        " userErrors { code } } }",
        {"id": plan["id"]},
        token=accounts.token["USER"],
    )
    state = ready["data"]["markPlanReady"]["plan"]
    assert state["state"] == "ACTIVE"  # a recurrence master
    assert state["nextRunAt"] == "2027-01-04T08:00:00+00:00"
    edited = await gql.execute(
        UPDATE_PLAN, {"input": {"id": plan["id"], "version": 2, "description": "x"}},
        token=accounts.token["USER"],
    )  # fmt: skip
    assert edited["data"]["updatePlan"]["userErrors"] == []  # the master is edited in place
    stop = "mutation($id: ID!) { stopRecurrence(id: $id) { plan { state } userErrors { code } } }"
    stopped = await gql.execute(stop, {"id": plan["id"]}, token=accounts.token["USER"])
    assert stopped["data"]["stopRecurrence"]["plan"]["state"] == "PAUSED"
    again = await gql.execute(stop, {"id": plan["id"]}, token=accounts.token["USER"])
    assert again["data"]["stopRecurrence"]["userErrors"] == [{"code": "INVALID_STATE"}]

    await Plan.filter(id=(await Plan.first()).id).update(state="archived", next_run_at=None)
    reopen = "mutation($id: ID!) { reopenPlan(id: $id) { plan { state } userErrors { code } } }"
    denied = await gql.execute(reopen, {"id": plan["id"]}, token=accounts.token["USER"])
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    denied = await gql.execute(reopen, {"id": plan["id"]}, token=accounts.token["POWERUSER"])
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    reopened = await gql.execute(reopen, {"id": plan["id"]}, token=accounts.token["ADMIN"])
    assert reopened["data"]["reopenPlan"] == {"plan": {"state": "DRAFT"}, "userErrors": []}
    actions = (
        await AuditEntry.filter(object_type="plan").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["create", "ready", "update", "stop", "reopen"]


async def test_another_databases_plans_and_runs_are_not_found_by_any_path(gql, accounts):
    admin = accounts.users["ADMIN"]
    segment = await make_segment(accounts.other_database, admin)
    plan = (await create_plan(gql, accounts.token["ADMIN"], accounts.other_database, segment))[
        "plan"
    ]
    run = await _run_of(int((await Plan.first()).id))
    user = accounts.token["USER"]  # granted Main only
    for query, variables in [
        (PLAN, {"id": plan["id"]}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": plan["id"]}),
        ("query($id: ID!) { planRun(id: $id) { id } }", {"id": gid("PlanRun", run)}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": gid("PlanRun", run)}),
        ("query($id: ID!) { plans(databaseId: $id) { totalCount } }",
         {"id": gid("Database", accounts.other_database.id)}),
        ("mutation($id: ID!) { cancelRun(id: $id) { run { id } } }", {"id": gid("PlanRun", run)}),
        ("mutation($id: ID!) { deletePlan(id: $id) { deletedId } }", {"id": plan["id"]}),
    ]:  # fmt: skip
        result = await gql.execute(query, variables, token=user)
        assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND", (query, result)
    listed = await gql.execute("{ plans { totalCount edges { node { id } } } }", token=user)
    assert listed["data"]["plans"] == {"totalCount": 0, "edges": []}
    seen = await gql.execute(
        "{ plans { totalCount } }", token=accounts.token["ADMIN"]
    )  # admins see every database
    assert seen["data"]["plans"]["totalCount"] == 1


async def _run_of(plan_id: int) -> int:
    from tortoise import connections

    rows = await connections.get("default").execute_query_dict(
        "INSERT INTO plan_run (plan_id, trigger, scheduled_for, as_of, state, funnel, created_at)"
        " VALUES ($1, 'manual', now(), now(), 'delivering', '{}', now()) RETURNING id",
        [plan_id],
    )
    return rows[0]["id"]


async def test_plan_keeps_its_deleted_segment_and_lists_filter_and_page(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    token = accounts.token["USER"]
    for name in ("Bravo", "Alpha", "Charlie"):
        await create_plan(gql, token, accounts.database, segment, name=name)
    await Segment.filter(id=segment.id).update(deleted_at=datetime.now(UTC))
    query = (
        "query($after: String) { plans(orderBy: {field: NAME}, first: 2, after: $after,"
        ' filter: {nameContains: "a"}) { totalCount pageInfo { hasNextPage endCursor }'
        " edges { node { name segment { name } } } } }"
    )
    first = (await gql.execute(query, {"after": None}, token=token))["data"]["plans"]
    assert first["totalCount"] == 3
    assert [e["node"]["name"] for e in first["edges"]] == ["Alpha", "Bravo"]
    assert first["edges"][0]["node"]["segment"] == {"name": "Romans"}
    rest = await gql.execute(query, {"after": first["pageInfo"]["endCursor"]}, token=token)
    assert [e["node"]["name"] for e in rest["data"]["plans"]["edges"]] == ["Charlie"]
    drafts = await gql.execute("{ plans(filter: {states: [READY]}) { totalCount } }", token=token)
    assert drafts["data"]["plans"]["totalCount"] == 0


async def test_test_send_makes_a_test_run_that_can_be_cancelled(gql, accounts):
    segment = await make_segment(accounts.database, accounts.users["USER"])
    plan = (await create_plan(gql, accounts.token["USER"], accounts.database, segment))["plan"]
    bad = await gql.execute(
        "mutation($id: ID!, $a: [String!]!) { testSendPlan(id: $id, addresses: $a) {"
        " run { id } userErrors { path code } } }",
        {"id": plan["id"], "a": ["a@example.com", "nope"]},
        token=accounts.token["USER"],
    )
    assert bad["data"]["testSendPlan"] == {
        "run": None, "userErrors": [{"path": ["addresses", "1"], "code": "INVALID"}]
    }  # fmt: skip
    sent = await gql.execute(
        "mutation($id: ID!, $a: [String!]!) { testSendPlan(id: $id, addresses: $a) {"
        " run { id trigger state funnel { recipients } plan { name } } userErrors { code } } }",
        {"id": plan["id"], "a": ["a@example.com"]},
        token=accounts.token["USER"],
    )
    run = sent["data"]["testSendPlan"]["run"]
    assert run["trigger"] == "TEST" and run["state"] == "DELIVERING"
    assert run["funnel"]["recipients"] == 1 and run["plan"]["name"] == "Weekly newsletter"
    runs = await gql.execute(
        "query($id: ID!) { plan(id: $id) { real: runs { totalCount }"
        " all: runs(includeTests: true) { totalCount edges { node { id progress { toSend }"
        " report { runId } consumers { position kind channel status } } } }"
        " } }",
        {"id": plan["id"]},
        token=accounts.token["GUEST"],
    )
    found = runs["data"]["plan"]
    assert found["real"]["totalCount"] == 0 and found["all"]["totalCount"] == 1
    assert found["all"]["edges"][0]["node"]["progress"]["toSend"] == 1
    assert found["all"]["edges"][0]["node"]["report"] == {"runId": run["id"]}
    assert found["all"]["edges"][0]["node"]["consumers"] == [
        {"position": 0, "kind": "delivery", "channel": "EMAIL", "status": "pending"}
    ]
    assert "errors" not in runs, runs
    cancel = "mutation($id: ID!) { cancelRun(id: $id) { run { state } userErrors { code } } }"
    cancelled = await gql.execute(cancel, {"id": run["id"]}, token=accounts.token["USER"])
    assert cancelled["data"]["cancelRun"] == {"run": {"state": "CANCELLED"}, "userErrors": []}
    twice = await gql.execute(cancel, {"id": run["id"]}, token=accounts.token["USER"])
    assert twice["data"]["cancelRun"] == {"run": {"state": "CANCELLED"}, "userErrors": []}
    await PlanRun.all().update(state="completed")
    done = await gql.execute(cancel, {"id": run["id"]}, token=accounts.token["USER"])
    assert done["data"]["cancelRun"] == {"run": None, "userErrors": [{"code": "INVALID_STATE"}]}
    resumed = await gql.execute(
        "mutation($id: ID!) { resumeRun(id: $id) { run { state } userErrors { code } } }",
        {"id": run["id"]},
        token=accounts.token["USER"],
    )
    assert resumed["data"]["resumeRun"] == {"run": None, "userErrors": [{"code": "INVALID_STATE"}]}
    actions = await AuditEntry.filter(object_type="plan_run").values_list("action", flat=True)
    assert actions == ["cancel"]
