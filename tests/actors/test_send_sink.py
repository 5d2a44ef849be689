"""The development send-sink: durability across restarts, controls, validation, emission."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actors.feedback import verify_signature
from actors.platform_client import MAX_BATCH_RECIPIENTS, PermanentError
from actors.send_sink import create_send_sink_app
from actors.send_sink.store import JOURNAL_NAME
from tests.actors.conftest import (
    SINK_TOKEN,
    WEBHOOK_SECRET,
    Sink,
    SinkProcess,
    served_in_this_loop,
)

MESSAGE = {"template": "t1", "subject": "Hello"}


def people(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"contact_ref": str(n), "address": f"{n}@example.com"} for n in range(first, first + count)
    ]


async def raw(sink: Sink, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sink.token}"} | kwargs.pop("headers", {})
    async with httpx.AsyncClient(base_url=sink.url, timeout=10) as http:
        return await http.request(method, path, headers=headers, **kwargs)


# --- durability ------------------------------------------------------------------------------


async def test_a_restarted_sink_keeps_what_it_received_and_its_idempotency_keys(tmp_path: Path):
    with SinkProcess(tmp_path) as process:
        sink = Sink(process.url)
        async with sink.client() as client:
            delivery = await client.create_delivery("email", MESSAGE, idempotency_key="c1")
            await client.add_recipients(delivery.id, "b0", people(0, 3))
            await client.add_recipients(delivery.id, "b1", people(3, 2))
            await client.start(delivery.id)
        await sink.control("POST", "/_sink/emit-feedback", {"delivery_id": delivery.id})
        before = await sink.received(delivery.id)
    with SinkProcess(tmp_path) as process:
        sink = Sink(process.url)
        after = await sink.received(delivery.id)
        async with sink.client() as client:
            same = await client.create_delivery("email", MESSAGE, idempotency_key="c1")
            repeat = await client.add_recipients(delivery.id, "b1", people(3, 2))
            with pytest.raises(PermanentError) as conflict:
                await client.add_recipients(delivery.id, "b0", people(0, 4))
            feedback = await client.feedback(delivery.id)
        final = await sink.received(delivery.id)
    assert after == before
    assert after["status"] == "started" and after["counts"]["delivered"] == 5
    assert same.id == delivery.id
    assert (repeat.accepted, repeat.duplicate) == (2, True)
    assert conflict.value.status == 409
    assert len(feedback.items) == 5
    assert final["per_contact"] == {str(n): 1 for n in range(5)}


async def test_a_torn_last_journal_line_is_skipped_and_later_records_stay_readable(
    tmp_path: Path,
):
    with SinkProcess(tmp_path) as process:
        async with Sink(process.url).client() as client:
            delivery = await client.create_delivery("sms", MESSAGE)
            await client.add_recipients(delivery.id, "b0", people(0, 2))
    with (tmp_path / JOURNAL_NAME).open("a") as journal:
        journal.write('{"op":"recipients","delivery_id":"' + delivery.id + '","key":"b1","rec')
    with SinkProcess(tmp_path) as process:
        async with Sink(process.url).client() as client:
            await client.add_recipients(delivery.id, "b2", people(10, 1))
    with SinkProcess(tmp_path) as process:
        received = await Sink(process.url).received(delivery.id)
    assert received["batch_keys"] == ["b0", "b2"]
    assert received["per_contact"] == {"0": 1, "1": 1, "10": 1}


async def test_reset_forgets_everything_also_after_a_restart(tmp_path: Path):
    with SinkProcess(tmp_path) as process:
        sink = Sink(process.url)
        async with sink.client() as client:
            await client.create_delivery("push", MESSAGE, idempotency_key="k")
        await sink.faults(fail_rate=0.5)
        await sink.control("POST", "/_sink/reset")
        assert (await sink.control("GET", "/_sink/faults"))["fail_rate"] == 0
    with SinkProcess(tmp_path) as process:
        sink = Sink(process.url)
        assert (await sink.control("GET", "/_sink/received"))["deliveries"] == []
        async with sink.client() as client:
            fresh = await client.create_delivery("email", MESSAGE, idempotency_key="k")
        assert fresh.channel == "email"  # the key was forgotten: no conflict


def test_a_sink_without_a_token_is_refused():
    with pytest.raises(ValueError, match="needs a token"):
        create_send_sink_app(token="", data_dir=None)


async def test_an_in_memory_sink_works_without_a_data_folder():
    app = create_send_sink_app(token=SINK_TOKEN, data_dir=None)
    async with served_in_this_loop(app) as url:
        sink = Sink(url)
        async with sink.client() as client:
            delivery = await client.create_delivery("email", MESSAGE)
            result = await client.add_recipients(delivery.id, "b0", people(0, 2))
        assert (result.accepted, result.duplicate) == (2, False)
        assert (await sink.received(delivery.id))["per_contact"] == {"0": 1, "1": 1}


# --- what it records -------------------------------------------------------------------------


async def test_received_shows_a_contact_sent_in_two_different_batches(sink: Sink):
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)
        await client.add_recipients(delivery.id, "b0", people(0, 2))
        await client.add_recipients(delivery.id, "b1", people(1, 2))
    received = await sink.received(delivery.id)
    assert received["per_contact"] == {"0": 1, "1": 2, "2": 1}
    assert received["duplicated_contacts"] == ["1"]


async def test_recipients_without_an_idempotency_key_are_refused(sink: Sink):
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)
    response = await raw(
        sink, "POST", f"/v1/deliveries/{delivery.id}/recipients", json={"recipients": people(0, 1)}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert (await sink.received(delivery.id))["counts"]["recipients"] == 0


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"recipients": []}, "invalid", "non-empty list"),
        ({"recipients": people(0, 10_001)}, "batch_too_large", "at most 10000"),
        ({"recipients": [{"contact_ref": "1", "address": 5}]}, "invalid", "recipients[0].address"),
        ({"recipients": [{"contact_ref": "1", "data": []}]}, "invalid", "recipients[0].data"),
    ],
)
async def test_bad_batches_are_refused_with_the_reason(sink: Sink, body, code, words):
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)
    response = await raw(
        sink,
        "POST",
        f"/v1/deliveries/{delivery.id}/recipients",
        json=body,
        headers={"Idempotency-Key": "k"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code and words in response.json()["error"]["message"]


async def test_a_body_that_is_not_json_is_a_400(sink: Sink):
    response = await raw(sink, "POST", "/v1/deliveries", content=b"{nope")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_json"


async def test_health_needs_no_token_and_controls_do(sink: Sink):
    async with httpx.AsyncClient(base_url=sink.url) as http:
        assert (await http.get("/_sink/health")).json()["ok"] is True
        assert (await http.post("/_sink/reset")).status_code == 401
        assert (await http.get("/v1/deliveries/x")).status_code == 401


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "words"),
    [
        ({"fail_rate": 2}, "fail_rate must be a number from 0 to 1"),
        ({"fail_rate": 0.6, "lose_rate": 0.6}, "at most 1"),
        ({"status": 200}, "status must be an HTTP error status"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"max_rate": 0}, "max_rate"),
        ({"explode": True}, "unknown fault settings: explode"),
    ],
)
async def test_bad_fault_settings_are_refused_and_change_nothing(sink: Sink, faults, words):
    response = await raw(sink, "POST", "/_sink/faults", json=faults)
    assert response.status_code == 422 and words in response.json()["error"]["message"]
    assert (await sink.control("GET", "/_sink/faults"))["fail_rate"] == 0


async def test_faults_do_not_apply_to_the_controls(sink: Sink):
    await sink.faults(fail_rate=1.0)
    assert (await sink.control("GET", "/_sink/received"))["deliveries"] == []


# --- feedback emission -----------------------------------------------------------------------


async def emit(sink: Sink, **body: Any) -> httpx.Response:
    return await raw(sink, "POST", "/_sink/emit-feedback", json=body)


async def test_feedback_exists_only_for_a_started_delivery(sink: Sink):
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)
        not_started = await emit(sink, delivery_id=delivery.id)
        await client.start(delivery.id)
    missing = await emit(sink, delivery_id="dlv_nope")
    bad_rates = await emit(sink, delivery_id=delivery.id, rates={"opened": 1.5})
    assert (not_started.status_code, not_started.json()["error"]["code"]) == (409, "not_started")
    assert missing.status_code == 404
    assert bad_rates.status_code == 422 and "rates.opened" in bad_rates.json()["error"]["message"]


async def test_emission_is_deterministic_with_a_seed_and_follows_the_rates(sink: Sink):
    rates = {"bounced": 0.2, "opened": 0.5, "clicked": 0.4}
    outcomes = []
    async with sink.client() as client:
        for _ in range(2):
            delivery = await client.create_delivery("email", MESSAGE)
            await client.add_recipients(delivery.id, "b0", people(0, 500))
            await client.start(delivery.id)
            result = (await emit(sink, delivery_id=delivery.id, rates=rates, seed=9)).json()
            items = (await client.feedback(delivery.id, limit=5000)).items
            assert result["events"] == len(items) and result["posted"] == 0  # no webhook set
            outcomes.append([(i["contact_ref"], i["type"], i.get("link_category")) for i in items])
        status = await client.status(delivery.id)
    assert outcomes[0] == outcomes[1]
    counts = status.counts
    assert counts["bounced"] + counts["delivered"] == 500
    assert 0.2 - 0.06 < counts["bounced"] / 500 < 0.2 + 0.06
    assert 0.5 - 0.08 < counts["opened"] / counts["delivered"] < 0.5 + 0.08
    assert 0.4 - 0.1 < counts["clicked"] / counts["opened"] < 0.4 + 0.1


async def test_the_configured_webhook_gets_signed_batches(tmp_path: Path):
    bodies: list[tuple[bytes, str | None]] = []

    async def webhook(request: Request) -> JSONResponse:
        bodies.append((await request.body(), request.headers.get("X-Signature")))
        return JSONResponse({"ok": True})

    peer_app = Starlette(routes=[Route("/hook", webhook, methods=["POST"])])
    async with served_in_this_loop(peer_app) as peer:
        with SinkProcess(tmp_path, webhook_url=f"{peer}/hook") as process:
            sink = Sink(process.url)
            async with sink.client() as client:
                delivery = await client.create_delivery("sms", MESSAGE)
                await client.add_recipients(delivery.id, "b0", people(0, 5))
                await client.start(delivery.id)
            result = (await emit(sink, delivery_id=delivery.id, batch_size=2)).json()
    assert (result["events"], result["posted"], result["batches"]) == (5, 5, 3)
    assert len(bodies) == 3
    assert all(verify_signature(body, signature, WEBHOOK_SECRET) for body, signature in bodies)


async def test_auto_feedback_is_emitted_to_the_webhook_when_a_delivery_starts(tmp_path: Path):
    posts: list[list[dict[str, Any]]] = []
    posted = asyncio.Event()

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        assert verify_signature(body, request.headers.get("X-Signature"), WEBHOOK_SECRET)
        posts.append(json.loads(body)["items"])
        posted.set()
        return JSONResponse({"ok": True})

    peer_app = Starlette(routes=[Route("/hook", webhook, methods=["POST"])])
    rates = {"bounced": 0.1, "opened": 0.5, "clicked": 0.5}
    async with served_in_this_loop(peer_app) as peer:
        with SinkProcess(tmp_path, webhook_url=f"{peer}/hook", auto_feedback=rates) as process:
            sink = Sink(process.url)
            assert (await sink.control("GET", "/_sink/auto-feedback"))["rates"]["bounced"] == 0.1
            async with sink.client() as client:
                delivery = await client.create_delivery("email", MESSAGE)
                await client.add_recipients(delivery.id, "b0", people(0, 30))
                await client.start(delivery.id)
                await asyncio.wait_for(posted.wait(), timeout=30)  # one batch: under 500 events
                await client.start(delivery.id)  # starting again emits nothing more
                platform_view = (await client.feedback(delivery.id)).items
                status = await client.status(delivery.id)
    (items,) = posts
    assert sorted(i["id"] for i in items) == sorted(i["id"] for i in platform_view)
    assert status.counts["delivered"] + status.counts["bounced"] == 30
    assert {i["contact_ref"] for i in items} == {str(n) for n in range(30)}


async def test_webhook_batches_answered_5xx_are_sent_again_and_4xx_are_not(sink: Sink):
    calls: list[int] = []

    async def flaky(request: Request) -> JSONResponse:
        calls.append(1)
        return JSONResponse({}, 503 if len(calls) == 1 else 200)

    async def refusing(request: Request) -> JSONResponse:
        calls.append(4)
        return JSONResponse({"error": "bad_signature"}, 401)

    routes = [
        Route("/flaky", flaky, methods=["POST"]),
        Route("/refusing", refusing, methods=["POST"]),
    ]
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)
        await client.add_recipients(delivery.id, "b0", people(0, 3))
        await client.start(delivery.id)
    async with served_in_this_loop(Starlette(routes=routes)) as peer:
        retried = (await emit(sink, delivery_id=delivery.id, webhook_url=f"{peer}/flaky")).json()
        refused = (await emit(sink, delivery_id=delivery.id, webhook_url=f"{peer}/refusing")).json()
    assert (retried["posted"], retried["failures"]) == (3, [])
    assert (refused["posted"], refused["failures"]) == (0, [{"batch": 0, "status": 401}])
    assert calls == [1, 1, 4]


async def test_a_batch_of_the_api_limit_is_accepted_whole(sink: Sink):
    async with sink.client(timeout=30) as client:
        delivery = await client.create_delivery("email", MESSAGE)
        result = await client.add_recipients(delivery.id, "big", people(0, MAX_BATCH_RECIPIENTS))
    received = await sink.received(delivery.id)
    assert result.accepted == received["counts"]["recipients"] == MAX_BATCH_RECIPIENTS
    assert received["duplicated_contacts"] == []
