"""The app's feedback webhook over HTTP: signed by the platform, refused otherwise, and the
feedback it stores is what segments select on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from actors.feedback import sign_body
from contactplan.app import FEEDBACK_WEBHOOK_PATH, create_app
from contactplan.settings import Settings
from segmentation.run import count_definition
from tests.actors.conftest import WEBHOOK_SECRET, Sink, served_in_this_loop
from tests.actors.test_feedback import events, item, shop, started_delivery

OPENED = {"root": {"event": {"type": "email_opened"}}}


@pytest_asyncio.fixture(loop_scope="session")
async def app_url(db: None) -> AsyncIterator[str]:
    """contactplan's app on loopback with the platform's webhook secret (the test's ORM)."""
    app = create_app(Settings(delivery_webhook_secret=WEBHOOK_SECRET), manage_orm=False)
    async with served_in_this_loop(app) as url:
        yield url


async def _post(url: str, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Signature"] = signature
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{url}{FEEDBACK_WEBHOOK_PATH}", content=body, headers=headers)


async def test_unsigned_or_badly_signed_feedback_is_refused_with_401(app_url: str) -> None:
    database_id, (ann, *_) = await shop()
    ref = f"contactplan:{database_id}:77:0"
    body = json.dumps({"items": [item("f1", ann, "opened", reference=ref)]}).encode()
    for signature in (None, "sha256=" + "0" * 64, sign_body(body, "another-secret")):
        response = await _post(app_url, body, signature)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "bad_signature"
    assert await events(database_id) == []


async def test_a_signed_body_that_is_not_feedback_is_refused_with_400(app_url: str) -> None:
    body = b'{"not items": []}'
    response = await _post(app_url, body, sign_body(body, WEBHOOK_SECRET))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_body"


async def test_signed_feedback_becomes_events_that_segments_select(app_url: str) -> None:
    database_id, (ann, bob, _) = await shop()
    ref = {"reference": f"contactplan:{database_id}:77:0"}
    assert await count_definition(OPENED, database_id) == 0
    body = json.dumps(
        {
            "items": [
                item("f1", ann, "delivered", **ref),
                item("f2", ann, "opened", **ref),
                item("f3", bob, "opened", **ref),
            ]
        }
    ).encode()
    response = await _post(app_url, body, sign_body(body, WEBHOOK_SECRET))
    assert response.status_code == 200
    assert response.json() == {"received": 3, "stored": 3}
    assert await count_definition(OPENED, database_id) == 2
    again = await _post(app_url, body, sign_body(body, WEBHOOK_SECRET))
    assert again.json() == {"received": 3, "stored": 0}  # the platform retried: stored once


async def test_the_send_sink_posts_its_feedback_to_the_app(app_url: str, sink: Sink) -> None:
    database_id, contact_ids = await shop(contacts=30)
    delivery_id = await started_delivery(sink, database_id, contact_ids)
    result = await sink.control(
        "POST",
        "/_sink/emit-feedback",
        {
            "delivery_id": delivery_id,
            "rates": {"opened": 0.5},
            "seed": 3,
            "webhook_url": f"{app_url}{FEEDBACK_WEBHOOK_PATH}",
        },
    )
    assert result["failures"] == [] and result["posted"] == result["events"] > 30
    rows = await events(database_id)
    assert len(rows) == result["events"]
    opened = {r["contact_id"] for r in rows if r["key"] == "email_opened"}
    assert 0 < len(opened) < 30
    assert await count_definition(OPENED, database_id) == len(opened)


def test_serve_without_platform_points_the_send_sink_at_the_webhook_with_one_secret() -> None:
    from contactplan.cli import serve_children

    settings = Settings(database_url="postgres://x/db", redis_url="redis://x/0", port=8123)
    specs, sink_url = serve_children(settings, threads=2)
    by_name = {spec.name: spec for spec in specs}
    sink, api, worker = by_name["send-sink"], by_name["api"], by_name["worker"]
    argv = list(sink.argv)
    webhook = argv[argv.index("--webhook-url") + 1]
    assert webhook == f"http://127.0.0.1:8123{FEEDBACK_WEBHOOK_PATH}"
    secret = sink.env["DELIVERY_WEBHOOK_SECRET"]
    assert len(secret) >= 32 and api.env["DELIVERY_WEBHOOK_SECRET"] == secret
    assert api.env["DELIVERY_URL"] == worker.env["DELIVERY_URL"] == sink_url
    assert "--webhook-secret" not in argv and secret not in argv  # not visible in `ps`

    with_platform = serve_children(
        Settings(database_url="postgres://x/db", redis_url="redis://x/0", delivery_url="https://s"),
        threads=2,
    )
    assert [spec.name for spec in with_platform[0]] == ["api", "worker"]


async def test_the_send_sink_command_signs_feedback_with_the_settings_secret(
    app_url: str, tmp_path, service_env: dict[str, str]
) -> None:
    import subprocess
    import sys

    from tests.actors.conftest import SINK_TOKEN, free_socket

    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = service_env | {"DELIVERY_WEBHOOK_SECRET": WEBHOOK_SECRET, "DATA_DIR": str(tmp_path)}
    argv = [
        sys.executable, "-m", "contactplan", "send-sink", "--port", str(port),
        "--token", SINK_TOKEN, "--webhook-url", f"{app_url}{FEEDBACK_WEBHOOK_PATH}",
        "--auto-feedback", '{"delivered": 1, "opened": 1}',
    ]  # fmt: skip
    process = subprocess.Popen(argv, env=env)  # noqa: ASYNC220 - a short-lived child
    try:
        sink = Sink(f"http://127.0.0.1:{port}")
        for _ in range(300):
            try:
                await sink.control("GET", "/_sink/health")
                break
            except httpx.TransportError:
                assert process.poll() is None, "the send-sink exited"
                await asyncio.sleep(0.1)
        database_id, contact_ids = await shop(contacts=5)
        await started_delivery(sink, database_id, contact_ids)
        for _ in range(100):
            if await count_definition(OPENED, database_id) == 5:
                break
            await asyncio.sleep(0.1)
        assert await count_definition(OPENED, database_id) == 5
    finally:
        process.terminate()
        process.wait(15)
