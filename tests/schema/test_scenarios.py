"""The product end to end, through HTTP: the app served by uvicorn on loopback, real
PostgreSQL and Redis, a `contactplan worker` subprocess and the send-sink (the delivery
platform's development server) as its own process.

- a marketer builds a segment rule by rule watching the live count, combines and clones it,
  plans an email on it, runs it now and reads what the platform received and the report;
- a partner with an API key loads contacts and events, then counts them;
- a guest reads everything and every change it tries is FORBIDDEN, changing nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from contactplan.app import create_app
from contactplan.settings import Settings
from models import AuditEntry, Contact, Event, Plan, PlanRun, Segment
from tests.actors.conftest import (  # sink fixtures used by name
    Sink,
    served_in_this_loop,
    sink,  # noqa: F401
    sink_server,  # noqa: F401
)
from tests.actors.plan_fixtures import start_worker, worker_env
from tests.conftest import GraphQLClient
from tests.schema.plans_support import insert_runs
from tests.schema.segment_world import build_world, buyers, gid, women
from tests.schema.test_contacts_fixtures import make_api_key, make_shop

GIVE_UP_SECONDS = 45  # a guard against a hung run, not an assertion on speed

COUNT = """query($db: ID!, $def: DefinitionInput, $json: JSON) {
  countDefinition(databaseId: $db, definition: $def, definitionJson: $json) {
    count userErrors { path message code } } }"""
CREATE_SEGMENT = """mutation($input: CreateSegmentInput!) { createSegment(input: $input) {
  segment { id name version count } userErrors { path message code } } }"""
CLONE_SEGMENT = """mutation($id: ID!) { cloneSegment(id: $id) {
  segment { id name definitionJson author { username } } userErrors { code } } }"""
CREATE_PLAN = """mutation($input: CreatePlanInput!) { createPlan(input: $input) {
  plan { id state version } userErrors { path message code } } }"""
READY = """mutation($id: ID!) { markPlanReady(id: $id) { plan { state nextRunAt }
  userErrors { code } } }"""
RUN_NOW = """mutation($id: ID!) { runPlanNow(id: $id) {
  run { id trigger state plan { state } } userErrors { path message code } } }"""
RUN = """query($id: ID!) { planRun(id: $id) {
  state trigger
  funnel { segment recipients controlGroup excluded { reason count } }
  progress { state toSend sent failed pending batches batchesDone finished error }
  consumers { kind channel status platformDeliveryId }
  report { runId funnel { sent } }
} }"""
REPORT = """query($id: ID!) { report(runId: $id) {
  state trigger planName segmentName channel
  funnel { segmentSize recipients sent failed pending controlGroup excluded { reason contacts } }
  consumers { kind channel sent errors deliveryId }
} }"""


@pytest_asyncio.fixture(loop_scope="session")
async def api(db: None, app_settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The app served by uvicorn on a loopback port; a client speaking real HTTP to it."""
    app = create_app(app_settings, manage_orm=False)
    async with served_in_this_loop(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield GraphQLClient(http)


@pytest.fixture
def worker(service_env: dict[str, str], sink: Sink, tmp_path: Path, redis) -> Iterator[Path]:  # noqa: F811
    """One `contactplan worker` subprocess delivering to the send-sink; yields its log file."""
    log = tmp_path / "worker.log"
    process = start_worker(worker_env(service_env, sink.url, sink.token), log, threads=2)
    yield log
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


async def ok(client: GraphQLClient, token: str, query: str, variables: dict | None = None) -> Any:
    """`data` of a request that must succeed with no top-level error."""
    result = await client.execute(query, variables, token=token)
    assert "errors" not in result, result
    return result["data"]


async def login(client: GraphQLClient, username: str) -> str:
    payload = await client.login(username)
    assert payload["userErrors"] == [] and payload["token"], payload
    return payload["token"]


# --- (a) marketer -----------------------------------------------------------------------------


async def test_marketer_builds_combines_clones_plans_runs_now_and_reads_the_report(
    api: GraphQLClient,
    accounts,
    sink: Sink,  # noqa: F811
    worker: Path,
) -> None:
    world = await build_world(accounts)
    token = await login(api, "user")

    async def live(definition: dict | None = None, json: dict | None = None) -> int:
        data = await ok(api, token, COUNT, {"db": world.shop_id, "def": definition, "json": json})
        assert data["countDefinition"]["userErrors"] == []
        return data["countDefinition"]["count"]

    async def save(name: str, definition: dict) -> dict:
        data = await ok(api, token, CREATE_SEGMENT, {"input": {
            "databaseId": world.shop_id, "name": name, "definition": definition}})  # fmt: skip
        assert data["createSegment"]["userErrors"] == []
        return data["createSegment"]["segment"]

    # rule by rule: women (anna, carla, elena), then only in Italy (anna, elena)
    assert await live(json=women()) == 3
    italian_women = {"root": {"contact": {"match": "ALL", "conditions": [
        {"field": "gender", "op": "eq", "value": "F"},
        {"field": "country", "op": "eq", "value": ["IT"]}]}}}  # fmt: skip
    assert await live(italian_women) == 2
    first = await save("Italian women", italian_women)
    assert first["count"] == 2
    assert await live(json=buyers()) == 3  # anna, bruno, elena
    second = await save("Buyers", {"root": {"event": {"type": "purchase"}}})

    # combined: Italian women OR buyers OR in France (carla, who gave no email consent)
    combined = {"root": {"sequence": [
        {"rule": {"segment": {"id": first["id"]}}},
        {"join": "OR", "rule": {"segment": {"id": second["id"]}}},
        {"join": "OR", "rule": {"contact": {"conditions": [
            {"field": "country", "op": "eq", "value": ["FR"]}]}}},
    ]}}  # fmt: skip
    assert await live(combined) == 4
    audience = await save("Audience", combined)
    clone = (await ok(api, token, CLONE_SEGMENT, {"id": audience["id"]}))["cloneSegment"]
    assert clone["userErrors"] == [] and clone["segment"]["name"] == "Copy of Audience"
    assert clone["segment"]["author"] == {"username": "user"}

    # a one-shot email plan on the clone, ready, then run now instead of at its time
    created = await ok(api, token, CREATE_PLAN, {"input": {
        "databaseId": world.shop_id, "segmentId": clone["segment"]["id"], "name": "Spring promo",
        "schedule": {"kind": "ONCE", "start": "2030-03-01", "time": "09:00"},
        "options": {"batchSize": 2},
        "consumers": [{"delivery": {"channel": "EMAIL", "template": "spring",
                                    "sender": "shop@example.com", "subject": "Spring!"}}],
    }})  # fmt: skip
    assert created["createPlan"]["userErrors"] == []
    plan_id = created["createPlan"]["plan"]["id"]
    ready = await ok(api, token, READY, {"id": plan_id})
    assert ready["markPlanReady"]["plan"]["state"] == "READY"
    started = (await ok(api, token, RUN_NOW, {"id": plan_id}))["runPlanNow"]
    assert started["userErrors"] == []
    assert started["run"]["trigger"] == "MANUAL" and started["run"]["plan"]["state"] == "ARCHIVED"
    run_id = started["run"]["id"]

    deadline = time.monotonic() + GIVE_UP_SECONDS
    while True:
        run = (await ok(api, token, RUN, {"id": run_id}))["planRun"]
        if run["progress"]["finished"]:
            break
        if time.monotonic() > deadline:
            log = await asyncio.to_thread(worker.read_text)
            raise AssertionError(f"run not finished: {run}\nworker log:\n{log[-4000:]}")
        await asyncio.sleep(0.2)

    assert run["state"] == "COMPLETED" and run["progress"]["error"] is None, run
    funnel = run["funnel"]
    assert funnel["segment"] == 4 and funnel["recipients"] == 3 and funnel["controlGroup"] == 0
    assert {e["reason"]: e["count"] for e in funnel["excluded"] if e["count"]} == {"no_consent": 1}
    assert run["progress"] | {"error": None} == {
        "state": "COMPLETED", "toSend": 3, "sent": 3, "failed": 0, "pending": 0,
        "batches": 2, "batchesDone": 2, "finished": True, "error": None,
    }  # fmt: skip
    (delivery,) = run["consumers"]
    assert delivery["kind"] == "delivery" and delivery["channel"] == "EMAIL"

    # the platform received exactly the recipients of the funnel, once each
    received = await sink.received(delivery["platformDeliveryId"])
    expected = {str(world.contacts[name].id) for name in ("anna", "bruno", "elena")}
    assert received["per_contact"] == dict.fromkeys(expected, 1)
    assert received["duplicated_contacts"] == []

    report = (await ok(api, token, REPORT, {"id": run_id}))["report"]
    assert report["state"] == "COMPLETED" and report["trigger"] == "MANUAL"
    assert report["planName"] == "Spring promo" and report["segmentName"] == "Copy of Audience"
    assert report["channel"] == "EMAIL"
    assert report["funnel"]["segmentSize"] == 4
    assert (report["funnel"]["recipients"], report["funnel"]["sent"]) == (3, 3)
    assert (report["funnel"]["failed"], report["funnel"]["pending"]) == (0, 0)
    assert {e["reason"]: e["contacts"] for e in report["funnel"]["excluded"] if e["contacts"]} == {
        "no_consent": 1
    }
    assert [(c["kind"], c["sent"], c["errors"]) for c in report["consumers"]] == [
        ("delivery", 3, 0)
    ]
    assert report["consumers"][0]["deliveryId"] == delivery["platformDeliveryId"]
    assert run["report"] == {"runId": run_id, "funnel": {"sent": 3}}


# --- (b) partner ------------------------------------------------------------------------------

UPSERT = """mutation($db: ID!, $contacts: [ContactInput!]!) {
  upsertContacts(databaseId: $db, contacts: $contacts) {
    createdCount updatedCount unchangedCount userErrors { path message code } } }"""
INGEST = """mutation($db: ID!, $events: [EventInput!]!) { ingestEvents(databaseId: $db,
  events: $events) { ingestedCount duplicateCount userErrors { path message code } } }"""


async def test_partner_loads_contacts_and_events_with_an_api_key_then_counts_them(
    api: GraphQLClient, accounts
) -> None:
    shop = await make_shop(accounts)
    key = await make_api_key(accounts, "POWERUSER", [shop.database])
    contacts = [
        {"externalId": f"p-{n}", "email": f"p{n}@example.com", "city": "Torino" if n < 3 else
         "Roma", "consentEmail": True} for n in range(5)
    ]  # fmt: skip
    events = [
        {"eventId": f"o-{n}", "contactExternalId": f"p-{n}", "type": "purchase",
         "occurredAt": "2026-03-01T10:00:00+01:00", "value": f"{40 * n}.00"} for n in range(5)
    ]  # fmt: skip
    loaded = await ok(api, key, UPSERT, {"db": shop.gid, "contacts": contacts})
    assert loaded["upsertContacts"] == {"createdCount": 5, "updatedCount": 0,
                                        "unchangedCount": 0, "userErrors": []}  # fmt: skip
    ingested = await ok(api, key, INGEST, {"db": shop.gid, "events": events})
    assert ingested["ingestEvents"] == {"ingestedCount": 5, "duplicateCount": 0, "userErrors": []}
    again = await ok(api, key, INGEST, {"db": shop.gid, "events": events})
    assert again["ingestEvents"]["ingestedCount"] == 0  # idempotent by event id

    def count_of(definition: dict) -> dict:
        return {"db": shop.gid, "json": definition}

    in_turin = {"root": {"contact": {"conditions": [
        {"field": "city", "op": "eq", "value": "Torino"}]}}}  # fmt: skip
    spenders = {"root": {"event": {"type": "purchase", "aggregate": {
        "fn": "sum", "of": "$value", "op": "gte", "value": 80}}}}  # fmt: skip
    both = {"root": {"and": [in_turin["root"], spenders["root"]]}}
    counts = [
        (await ok(api, key, COUNT, count_of(d)))["countDefinition"]
        for d in (in_turin, spenders, both)
    ]
    assert counts == [
        {"count": 3, "userErrors": []},  # p-0, p-1, p-2
        {"count": 3, "userErrors": []},  # p-2 (80), p-3 (120), p-4 (160)
        {"count": 1, "userErrors": []},  # p-2
    ]
    assert await Contact.filter(database=shop.database).count() == 5
    assert await Event.filter(database=shop.database).count() == 5


# --- (c) guest --------------------------------------------------------------------------------


async def test_guest_reads_segments_plans_and_reports_and_cannot_change_anything(
    api: GraphQLClient, accounts
) -> None:
    world = await build_world(accounts)
    segment = await world.segment("Women", women())
    plan = await Plan.create(
        database=world.shop, segment=segment, author=world.user("USER"), name="Promo",
        state="ready", schedule={"kind": "once", "start": "2030-03-01", "time": "09:00",
                                 "timezone": "Europe/Rome"},
        consumers=[{"kind": "delivery", "channel": "email", "template": "t",
                    "sender": "s@example.com", "subject": "Hi"}],
    )  # fmt: skip
    (run_id,) = await insert_runs(plan.id, 1)
    segment_id, plan_id, run_gid = (
        gid("Segment", segment.id),
        gid("Plan", plan.id),
        gid("PlanRun", run_id),
    )
    token = await login(api, "guest")

    read = await ok(api, token, """query($db: ID!, $s: ID!, $p: ID!, $r: ID!) {
      segments(databaseId: $db) { totalCount edges { node { name } } }
      segment(id: $s) { name count definitionJson }
      plans { totalCount edges { node { name state } } }
      plan(id: $p) { name runs { totalCount edges { node { id progress { state } } } } }
      report(runId: $r) { planName state }
    }""", {"db": world.shop_id, "s": segment_id, "p": plan_id, "r": run_gid})  # fmt: skip
    assert read["segments"]["edges"] == [{"node": {"name": "Women"}}]
    assert read["segment"]["count"] == 3
    assert read["plans"]["edges"] == [{"node": {"name": "Promo", "state": "READY"}}]
    assert read["plan"]["runs"]["edges"] == [
        {"node": {"id": run_gid, "progress": {"state": "COMPLETED"}}}
    ]
    assert read["report"] == {"planName": "Promo", "state": "COMPLETED"}

    before = await _snapshot()
    attempts = [
        ("mutation($i: CreateSegmentInput!) { createSegment(input: $i) { segment { id } } }",
         {"i": {"databaseId": world.shop_id, "name": "Mine", "definitionJson": women()}}),
        ("mutation($i: UpdateSegmentInput!) { updateSegment(input: $i) { segment { id } } }",
         {"i": {"id": segment_id, "version": 1, "name": "Renamed"}}),
        ("mutation($id: ID!) { cloneSegment(id: $id) { segment { id } } }", {"id": segment_id}),
        ("mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }", {"id": segment_id}),
        ("mutation($i: CreatePlanInput!) { createPlan(input: $i) { plan { id } } }",
         {"i": {"databaseId": world.shop_id, "segmentId": segment_id, "name": "P",
                "schedule": {"kind": "ONCE", "start": "2030-03-01", "time": "09:00"}}}),
        ("mutation($i: UpdatePlanInput!) { updatePlan(input: $i) { plan { id } } }",
         {"i": {"id": plan_id, "version": 1, "name": "Renamed"}}),
        ("mutation($id: ID!) { markPlanReady(id: $id) { plan { id } } }", {"id": plan_id}),
        ("mutation($id: ID!) { reopenPlan(id: $id) { plan { id } } }", {"id": plan_id}),
        ("mutation($id: ID!) { runPlanNow(id: $id) { run { id } } }", {"id": plan_id}),
        ("mutation($id: ID!) { testSendPlan(id: $id, addresses: [\"a@example.com\"]) {"
         " run { id } } }", {"id": plan_id}),
        ("mutation($id: ID!) { deletePlan(id: $id) { deletedId } }", {"id": plan_id}),
        ("mutation($id: ID!) { cancelRun(id: $id) { run { id } } }", {"id": run_gid}),
        ("mutation($db: ID!) { upsertContacts(databaseId: $db, contacts: [{externalId: \"x\"}])"
         " { createdCount } }", {"db": world.shop_id}),
        ("mutation($db: ID!) { ingestEvents(databaseId: $db, events: [{eventId: \"e\","
         " contactExternalId: \"anna\", type: \"purchase\","
         " occurredAt: \"2026-03-01T10:00:00Z\"}]) { ingestedCount } }", {"db": world.shop_id}),
    ]  # fmt: skip
    for document, variables in attempts:
        result = await api.execute(document, variables, token=token)
        codes = [e.get("extensions", {}).get("code") for e in result.get("errors", [])]
        assert codes == ["FORBIDDEN"], (document, result)
        assert all(value is None for value in (result.get("data") or {}).values()), result
    assert await _snapshot() == before


async def _snapshot() -> dict[str, Any]:
    """Everything a guest's mutation could have changed."""
    return {
        "segments": await Segment.all().order_by("id").values_list("id", "name", "version",
                                                                    "deleted_at"),
        "plans": await Plan.all().order_by("id").values_list("id", "name", "state", "version",
                                                             "deleted_at"),
        "runs": await PlanRun.all().order_by("id").values_list("id", "state", "trigger"),
        "contacts": await Contact.all().count(),
        "events": await Event.all().count(),
        "audit": await AuditEntry.all().count(),
    }  # fmt: skip
