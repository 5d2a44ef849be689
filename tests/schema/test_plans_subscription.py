"""The runProgress subscription over a real WebSocket (graphql-transport-ws) to `contactplan api`
running under uvicorn on loopback, against the test database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tortoise import connections
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from models import Plan, Profile
from permissions.names import Perm
from tests.conftest import TEST_SECRET_KEY
from tests.contactplan.processes import RunningCommand, free_port
from tests.schema.plans_support import gid, make_segment

PROTOCOL = Subprotocol("graphql-transport-ws")
WAIT = 60.0  # upper bound against hangs, not a speed assertion
SUBSCRIBE = (
    "subscription($id: ID!) { runProgress(runId: $id) { runId state toSend sent failed"
    " pending batches batchesDone finished funnel { recipients } } }"
)


@pytest.fixture(scope="module")
def api_url(service_env: dict[str, str]) -> Iterator[str]:
    """`contactplan api` (uvicorn) on a free loopback port; its WebSocket URL of /graphql."""
    port = free_port()
    env = service_env | {"PORT": str(port), "SECRET_KEY": TEST_SECRET_KEY, "LOG_LEVEL": "WARNING"}
    api = RunningCommand(["api"], env)
    try:
        api.wait_healthy(f"http://127.0.0.1:{port}")
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        api.stop()


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def _init(ws: ClientConnection, token: str) -> None:
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"authorization": f"Bearer {token}"}}))  # fmt: skip
    assert await _receive(ws) == {"type": "connection_ack"}


async def _subscribe(ws: ClientConnection, run_id: int) -> None:
    payload = {"query": SUBSCRIBE, "variables": {"id": gid("PlanRun", run_id)}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


async def _run_with_batches(accounts: Any, database: Any, sizes: list[int]) -> int:
    segment = await make_segment(database, accounts.users["ADMIN"])
    plan = await Plan.create(
        database=database, segment=segment, author=accounts.users["USER"], name="p",
        schedule={"kind": "once", "start": "2027-01-01", "time": "09:00", "timezone": "UTC"},
        consumers=[{"kind": "delivery", "channel": "email", "template": "t", "subject": "s"}],
    )  # fmt: skip
    sql = connections.get("default")
    rows = await sql.execute_query_dict(
        "INSERT INTO plan_run (plan_id, trigger, scheduled_for, as_of, state, funnel, created_at)"
        " VALUES ($1, 'manual', now(), now(), 'delivering', $2::jsonb, now()) RETURNING id",
        [plan.id, json.dumps({"pending": sum(sizes), "segment": sum(sizes)})],
    )
    run_id = rows[0]["id"]
    for n, size in enumerate(sizes):
        await sql.execute_query(
            "INSERT INTO delivery_batch (run_id, consumer_position, batch_no, size, status,"
            " attempts) VALUES ($1, 0, $2, $3, 'pending', 0)",
            [run_id, n, size],
        )
    return run_id


async def _set(sql_text: str, *params: Any) -> None:
    await connections.get("default").execute_query(sql_text, list(params))


async def test_subscription_pushes_progress_until_the_run_completes(api_url, accounts):
    run_id = await _run_with_batches(accounts, accounts.database, [100, 50])
    async with connect(api_url, subprotocols=[PROTOCOL]) as ws:
        await _init(ws, accounts.token["GUEST"])  # reading needs plan.read only
        await _subscribe(ws, run_id)
        first = await _receive(ws)
        assert first["type"] == "next" and first["id"] == "1", first
        assert first["payload"]["data"]["runProgress"] == {
            "runId": gid("PlanRun", run_id), "state": "DELIVERING", "toSend": 150, "sent": 0,
            "failed": 0, "pending": 150, "batches": 2, "batchesDone": 0, "finished": False,
            "funnel": {"recipients": 150},
        }  # fmt: skip

        await _set("UPDATE delivery_batch SET status = 'sent' WHERE run_id = $1 AND batch_no = 0",
                   run_id)  # fmt: skip
        second = (await _receive(ws))["payload"]["data"]["runProgress"]
        assert (second["sent"], second["pending"], second["batchesDone"]) == (100, 50, 1)

        await _set("UPDATE delivery_batch SET status = 'failed' WHERE run_id = $1", run_id)
        await _set("UPDATE plan_run SET state = 'completed', finished_at = now() WHERE id = $1",
                   run_id)  # fmt: skip
        messages = []
        while not messages or messages[-1]["type"] != "complete":
            messages.append(await _receive(ws))
        last = messages[-2]["payload"]["data"]["runProgress"]
        assert last["state"] == "COMPLETED" and last["finished"] is True
        assert (last["sent"], last["failed"], last["batchesDone"]) == (0, 150, 2)
        assert messages[-1] == {"id": "1", "type": "complete"}


async def test_subscription_to_another_databases_run_is_not_found(api_url, accounts):
    run_id = await _run_with_batches(accounts, accounts.other_database, [10])
    async with connect(api_url, subprotocols=[PROTOCOL]) as ws:
        await _init(ws, accounts.token["USER"])  # granted Main only
        await _subscribe(ws, run_id)
        messages = [await _receive(ws), await _receive(ws)]
    assert messages == [
        {"id": "1", "type": "next", "payload": {"data": None, "errors": [
            {"message": f"PlanRun {run_id} not found.", "extensions": {"code": "NOT_FOUND"}}]}},
        {"id": "1", "type": "complete"},
    ]  # fmt: skip


async def test_subscription_needs_a_valid_token(api_url, accounts):
    run_id = await _run_with_batches(accounts, accounts.database, [10])
    async with connect(api_url, subprotocols=[PROTOCOL]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert await _receive(ws) == {"type": "connection_ack"}
        await _subscribe(ws, run_id)
        message = await _receive(ws)
        assert message["type"] == "error", message  # refused before it started
        assert [e["extensions"]["code"] for e in message["payload"]] == ["UNAUTHENTICATED"]
    async with connect(api_url, subprotocols=[PROTOCOL]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": "Bearer forged"}}))  # fmt: skip
        with pytest.raises(ConnectionClosed) as closed:
            await _receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    token_header = {"Authorization": f"Bearer {accounts.token['GUEST']}"}
    async with connect(api_url, subprotocols=[PROTOCOL], additional_headers=token_header) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))  # the handshake header is enough
        assert await _receive(ws) == {"type": "connection_ack"}
        await _subscribe(ws, run_id)
        message = await _receive(ws)
        assert message["payload"]["data"]["runProgress"]["toSend"] == 10, message


@pytest.mark.parametrize("revoke", ["log_out_everywhere", "lose_plan_read"])
async def test_a_live_subscription_ends_when_its_caller_loses_access(api_url, accounts, revoke):
    run_id = await _run_with_batches(accounts, accounts.database, [100, 50])
    guest = accounts.users["GUEST"]
    async with connect(api_url, subprotocols=[PROTOCOL]) as ws:
        await _init(ws, accounts.token["GUEST"])
        await _subscribe(ws, run_id)
        first = await _receive(ws)
        assert first["payload"]["data"]["runProgress"]["sent"] == 0, first
        if revoke == "log_out_everywhere":  # what changing the password does to old tokens
            await _set("UPDATE app_user SET token_version = token_version + 1 WHERE id = $1",
                       guest.id)  # fmt: skip
            code = "UNAUTHENTICATED"
        else:  # an admin moves the guest to a profile without plan.read
            profile = await Profile.create(
                name="NO_PLANS", permissions=[p.value for p in Perm if p != Perm.PLAN_READ]
            )
            await _set("UPDATE app_user SET profile_id = $2 WHERE id = $1", guest.id, profile.id)
            code = "FORBIDDEN"
        await _set("UPDATE delivery_batch SET status = 'sent' WHERE run_id = $1 AND batch_no = 0",
                   run_id)  # fmt: skip
        messages = [await _receive(ws)]
        while messages[-1]["type"] == "next" and not messages[-1]["payload"].get("errors"):
            messages.append(await _receive(ws))  # no progress after access is gone
        assert all(m["payload"]["data"]["runProgress"]["sent"] == 0 for m in messages[:-1])
        last = messages[-1]
        errors = last["payload"] if last["type"] == "error" else last["payload"]["errors"]
        assert [e["extensions"]["code"] for e in errors] == [code], last
        assert "Traceback" not in json.dumps(last)
