"""Run reports, report search and contact history through GraphQL, with hand-computed numbers.

The shop (`build_shop`): 10 contacts; run 1 of plan "Welcome" by user `user`:
c1, c2 no consent, c3 no address, c4 control group, c5-c9 sent (batch 0), c10 failed
(batch 1). Platform feedback (ingested by actors.feedback): delivered c5-c8, bounced c9,
opened c5 twice and c6 once, clicked c5 three times; plus an open of c5 for run 2.
So: delivered 4, bounced 1, unique opens 2 / total 3, unique clicks 1 / total 3, errors 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from strawberry.relay import GlobalID
from tortoise import connections

from actors.feedback import ingest_feedback
from models import Plan, PlanRun, Segment, User
from models.standard_catalog import create_contact_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

T = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
EMAIL_DELIVERY = {"kind": "delivery", "channel": "email", "template": "welcome"}


def gid(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


@dataclass
class Shop:
    database_id: int
    other_database_id: int
    plan_id: int
    segment_id: int
    run_id: int
    old_run_id: int
    other_run_id: int
    other_segment_id: int
    contacts: list[int]


async def sql(query: str, *params) -> list[dict]:
    return await connections.get("default").execute_query_dict(query, list(params))


async def _plan(database_id: int, author: User, name: str, segment: Segment) -> Plan:
    return await Plan.create(
        database_id=database_id,
        segment=segment,
        author=author,
        name=name,
        state="archived",
        schedule={"kind": "once"},
        consumers=[EMAIL_DELIVERY, {"kind": "export"}],
    )


async def _run(plan: Plan, when: datetime, state: str, count: int) -> int:
    run = await PlanRun.create(
        plan=plan, trigger="manual", scheduled_for=when, as_of=when, state=state,
        segment_count=count, started_at=when, listed_at=when + timedelta(seconds=2),
        finished_at=when + timedelta(seconds=10),
    )  # fmt: skip
    await sql("UPDATE plan_run SET created_at = $2 WHERE id = $1", run.id, when)
    return run.id


async def build_shop(accounts) -> Shop:
    """The shop database (granted to every accounts user), its runs, and another database."""
    shop = await create_contact_database("Shop", timezone="UTC")
    other = await create_contact_database("Elsewhere", timezone="UTC")
    for user in accounts.users.values():
        await user.databases.add(shop)
    rows = await sql(
        "INSERT INTO contact (database_id, external_id, email, gender, city, consent_email,"
        " consent_sms, consent_push, attributes, created_at, updated_at)"
        " SELECT $1, 'c' || g, 'c' || g || '@shop.example', CASE WHEN g <= 6 THEN 'F' ELSE 'M'"
        " END, CASE WHEN g <= 5 THEN 'Rome' ELSE 'Milan' END, true, false, false, '{}', now(),"
        " now() FROM generate_series(1, 10) g ORDER BY g RETURNING id",
        shop.id,
    )
    contacts = sorted(r["id"] for r in rows)
    author = accounts.users["USER"]
    segment = await Segment.create(
        database=shop, name="Romans", author=author,
        definition={"root": {"contact": {"conditions": [
            {"field": "city", "op": "eq", "value": "Rome"}]}}},
    )  # fmt: skip
    plan = await _plan(shop.id, author, "Welcome", segment)
    run_id = await _run(plan, T, "completed", 10)
    old_run_id = await _run(plan, T - timedelta(days=40), "failed", 0)
    statuses = [("excluded", "no_consent")] * 2 + [
        ("excluded", "no_address"),
        ("control", "control"),
    ]
    statuses += [("sent", None)] * 5 + [("failed", None)]
    for contact, (status, reason) in zip(contacts, statuses, strict=True):
        address = None if reason == "no_address" else f"c{contacts.index(contact) + 1}@shop.example"
        batch = 0 if status == "sent" else 1 if status == "failed" else None
        await sql(
            "INSERT INTO recipient (run_id, contact_id, address, status, exclusion_reason,"
            " batch_no, sent_at, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            run_id, contact, address, status, reason, batch,
            T + timedelta(seconds=5) if status == "sent" else None,
            f"mailbox {address} rejected" if status == "failed" else None,
        )  # fmt: skip
    await sql(
        "INSERT INTO run_consumer (run_id, position, kind, channel, platform_delivery_id,"
        " status, stats) VALUES ($1, 0, 'delivery', 'email', 'dlv_1', 'started', '{}'),"
        " ($1, 1, 'export', NULL, NULL, 'done', '{\"rows\": 6, \"file\": \"/x.csv\"}')",
        run_id,
    )
    await sql(
        "INSERT INTO delivery_batch (run_id, consumer_position, batch_no, size, status,"
        " attempts, last_error, sent_at) VALUES ($1, 0, 0, 5, 'sent', 1, NULL, $2),"
        " ($1, 0, 1, 1, 'failed', 3, 'timeout', NULL)",
        run_id, T + timedelta(seconds=5),
    )  # fmt: skip
    items = []

    def item(n: int, kind: str, contact: int, run: int = run_id) -> None:
        items.append({
            "id": f"dlv_1:{contact}:{kind}:{n}:{run}", "delivery_id": "dlv_1", "channel": "email",
            "reference": f"contactplan:{shop.id}:{run}:0", "type": kind,
            "contact_ref": str(contact), "subject": "Hello", "url": "https://shop.example/?u=c5",
            "occurred_at": (T + timedelta(hours=1, minutes=n)).isoformat(),
        })  # fmt: skip

    for c in contacts[4:8]:
        item(0, "delivered", c)
    item(0, "bounced", contacts[8])
    item(1, "opened", contacts[4])
    item(2, "opened", contacts[4])
    item(1, "opened", contacts[5])
    for n in range(3):
        item(n, "clicked", contacts[4])
    item(3, "opened", contacts[4], old_run_id)
    assert await ingest_feedback(shop.id, items) == len(items)
    other_author = accounts.users["ADMIN"]
    other_segment = await Segment.create(
        database=other, name="All", author=other_author, definition={"root": {"and": []}}
    )
    other_plan = await _plan(other.id, other_author, "Hidden", other_segment)
    other_run_id = await _run(other_plan, T, "completed", 0)
    return Shop(
        shop.id, other.id, plan.id, segment.id, run_id, old_run_id, other_run_id,
        other_segment.id, contacts,
    )  # fmt: skip


REPORT = """query($id: ID!) { report(runId: $id) {
  id runId planName authorName state trigger channel segmentName planId
  funnel { segmentSize excluded { reason contacts } excludedTotal controlGroup recipients sent
           failed pending }
  consumers { position kind channel deliveryId status sent delivered bounced uniqueOpens
              totalOpens uniqueClicks totalClicks errors error batches failedBatches attempts }
  timings { evaluationSeconds deliverySeconds totalSeconds }
  run { id } plan { id } segment { id }
} }"""


async def test_report_funnel_and_feedback_counts(gql, accounts):
    shop = await build_shop(accounts)
    result = await gql.execute(
        REPORT, {"id": gid("PlanRun", shop.run_id)}, token=accounts.token["GUEST"]
    )
    assert "errors" not in result, result
    report = result["data"]["report"]
    assert report["runId"] == report["run"]["id"] == gid("PlanRun", shop.run_id)
    assert report["plan"]["id"] == gid("Plan", shop.plan_id)
    assert report["segment"]["id"] == gid("Segment", shop.segment_id)
    assert report["id"] == gid("Report", shop.run_id)
    assert (report["planName"], report["authorName"], report["segmentName"]) == (
        "Welcome", "User", "Romans",
    )  # fmt: skip
    assert (report["state"], report["trigger"], report["channel"]) == (
        "COMPLETED",
        "MANUAL",
        "EMAIL",
    )
    assert report["funnel"] == {
        "segmentSize": 10,
        "excluded": [
            {"reason": "no_address", "contacts": 1},
            {"reason": "no_consent", "contacts": 2},
        ],
        "excludedTotal": 3,
        "controlGroup": 1,
        "recipients": 6,
        "sent": 5,
        "failed": 1,
        "pending": 0,
    }
    delivery, export = report["consumers"]
    assert delivery == {
        "position": 0, "kind": "delivery", "channel": "email", "deliveryId": "dlv_1",
        "status": "started", "sent": 5, "delivered": 4, "bounced": 1, "uniqueOpens": 2,
        "totalOpens": 3, "uniqueClicks": 1, "totalClicks": 3, "errors": 1, "error": "timeout",
        "batches": 2, "failedBatches": 1, "attempts": 4,
    }  # fmt: skip
    assert (export["kind"], export["sent"], export["errors"], export["uniqueOpens"]) == (
        "export", 6, 0, 0,
    )  # fmt: skip
    assert report["timings"] == {
        "evaluationSeconds": 2.0, "deliverySeconds": 8.0, "totalSeconds": 10.0,
    }  # fmt: skip


async def test_report_of_another_database_is_not_found(gql, accounts):
    shop = await build_shop(accounts)
    for query, variables in (
        (REPORT, {"id": gid("PlanRun", shop.other_run_id)}),
        (REPORT, {"id": gid("Plan", shop.run_id)}),  # right number, wrong type
        (
            "query($db: ID!) { reports(databaseId: $db) { totalCount } }",
            {"db": gid("Database", shop.other_database_id)},
        ),
    ):
        result = await gql.execute(query, variables, token=accounts.token["USER"])
        assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND", result


async def test_report_needs_report_read(gql, accounts):
    from models import Profile

    shop = await build_shop(accounts)
    bare = await accounts.make_user("bare", "GUEST")
    bare.profile = await Profile.create(name="nothing", permissions=[])
    await bare.save()
    result = await gql.execute(
        REPORT, {"id": gid("PlanRun", shop.run_id)}, token=accounts.token_for(bare)
    )
    assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert result["data"] == {"report": None}


SEARCH = """query($db: ID!, $days: Int!, $filter: ReportFilterInput, $first: Int, $after: String) {
  reports(databaseId: $db, days: $days, filter: $filter, first: $first, after: $after) {
    totalCount edges { node { runId state funnel { sent } } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_reports_search_days_filters_and_pages(gql, accounts):
    shop = await build_shop(accounts)
    token = accounts.token["USER"]
    db = gid("Database", shop.database_id)

    async def runs(days: int, filter: dict | None = None, **paging) -> list[str]:
        result = await gql.execute(
            SEARCH, {"db": db, "days": days, "filter": filter, **paging}, token=token
        )
        assert "errors" not in result, result
        return [e["node"]["runId"] for e in result["data"]["reports"]["edges"]]

    recent, old = gid("PlanRun", shop.run_id), gid("PlanRun", shop.old_run_id)
    test_send = await _run(await Plan.get(id=shop.plan_id), T + timedelta(hours=1), "completed", 1)
    await PlanRun.filter(id=test_send).update(trigger="test")
    assert await runs(30) == [recent]  # the test send is not a report
    assert await runs(60) == [recent, old]
    assert await runs(60, {"state": "FAILED"}) == [old]
    assert await runs(60, {"channel": "SMS"}) == []
    # the old run failed before writing its consumers: it delivered on no channel
    assert await runs(60, {"channel": "EMAIL", "planId": gid("Plan", shop.plan_id)}) == [recent]
    assert await runs(60, {"segmentId": gid("Segment", shop.other_segment_id)}) == []
    author = gid("User", accounts.users["USER"].id)
    assert await runs(60, {"authorId": author}) == [recent, old]
    first = await gql.execute(SEARCH, {"db": db, "days": 60, "first": 1}, token=token)
    page = first["data"]["reports"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"]
    assert await runs(60, first=1, after=page["pageInfo"]["endCursor"]) == [old]


HISTORY = """query($id: ID!) { contactHistory(contactId: $id) { totalCount edges { node {
  run { id } plan { id } runId planName status exclusionReason channel template address error
  events { kind channel subject url } } } } }"""


async def test_contact_history_hides_personal_data_without_permission(gql, accounts):
    shop = await build_shop(accounts)
    c5 = gid("Contact", shop.contacts[4])
    user = await gql.execute(HISTORY, {"id": c5}, token=accounts.token["USER"])
    assert "errors" not in user, user
    (entry,) = [e["node"] for e in user["data"]["contactHistory"]["edges"]]
    assert entry["runId"] == entry["run"]["id"] == gid("PlanRun", shop.run_id)
    assert entry["plan"]["id"] == gid("Plan", shop.plan_id)
    assert (entry["status"], entry["channel"], entry["template"]) == ("sent", "email", "welcome")
    assert entry["address"] is None
    kinds = [e["kind"] for e in entry["events"]]
    assert sorted(kinds) == ["clicked"] * 3 + ["delivered"] + ["opened"] * 2
    assert {(e["url"], e["subject"]) for e in entry["events"]} == {(None, None)}
    assert "shop.example" not in str(user)
    power = await gql.execute(HISTORY, {"id": c5}, token=accounts.token["POWERUSER"])
    (entry,) = [e["node"] for e in power["data"]["contactHistory"]["edges"]]
    assert entry["address"] == "c5@shop.example"
    assert "https://shop.example/?u=c5" in {e["url"] for e in entry["events"]}
    assert {e["subject"] for e in entry["events"]} == {"Hello"}
    c10 = gid("Contact", shop.contacts[9])
    failed = await gql.execute(HISTORY, {"id": c10}, token=accounts.token["POWERUSER"])
    (entry,) = [e["node"] for e in failed["data"]["contactHistory"]["edges"]]
    assert (entry["status"], entry["error"]) == ("failed", "mailbox c10@shop.example rejected")


async def test_contact_history_of_another_database_is_not_found(gql, accounts):
    shop = await build_shop(accounts)
    rows = await sql(
        "INSERT INTO contact (database_id, external_id, consent_email, consent_sms, consent_push,"
        " attributes, created_at, updated_at)"
        " VALUES ($1, 'x', false, false, false, '{}', now(), now()) RETURNING id",
        shop.other_database_id,
    )
    result = await gql.execute(
        HISTORY, {"id": gid("Contact", rows[0]["id"])}, token=accounts.token["USER"]
    )
    assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_report_is_a_node(gql, accounts):
    shop = await build_shop(accounts)
    query = "query($id: ID!) { node(id: $id) { ... on Report { planName funnel { sent } } } }"
    variables = {"id": gid("Report", shop.run_id)}
    result = await gql.execute(query, variables, token=accounts.token["GUEST"])
    assert result["data"]["node"] == {"planName": "Welcome", "funnel": {"sent": 5}}
    hidden = await gql.execute(
        query, {"id": gid("Report", shop.other_run_id)}, token=accounts.token["GUEST"]
    )
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_page_of_reports_costs_the_same_statements_as_one(gql, accounts):
    from tests.schema.statement_counter import count_statements

    shop = await build_shop(accounts)
    query = """query($db: ID!) { reports(databaseId: $db, days: 60) { edges { node {
      funnel { sent } consumers { totalOpens } run { id } plan { id } segment { id } } } } }"""
    variables = {"db": gid("Database", shop.database_id)}
    token = accounts.token["USER"]
    with count_statements() as two:
        result = await gql.execute(query, variables, token=token)
    assert len(result["data"]["reports"]["edges"]) == 2, result
    plan = await Plan.get(id=shop.plan_id)
    for days_back in range(2, 6):  # four more runs of the same plan
        await _run(plan, T - timedelta(days=days_back), "completed", 0)
    with count_statements() as six:
        result = await gql.execute(query, variables, token=token)
    assert len(result["data"]["reports"]["edges"]) == 6
    assert six.count == two.count, six.statements
