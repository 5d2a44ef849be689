"""Export and webhook consumers: several per plan, at least once, one key per consumer."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actors.consumers import run_list_consumers, webhook_key
from actors.platform_client import RetryPolicy
from actors.run_plan import evaluate_run
from tests.actors.conftest import served_in_this_loop
from tests.actors.plan_fixtures import (
    EMAIL_DELIVERY,
    World,
    add_contacts,
    fetch,
    make_plan,
    make_run,
)

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)


async def test_a_webhook_cut_off_mid_call_is_sent_again_with_the_same_key(
    world: World, tmp_path
) -> None:
    calls: list[tuple[str, str]] = []
    first_call_started = asyncio.Event()
    hang = asyncio.Event()  # never set: the first call to /a hangs until its caller is gone

    async def hook(request: Request) -> JSONResponse:
        calls.append((request.url.path, request.headers["Idempotency-Key"]))
        if request.url.path == "/a" and len(calls) == 1:
            first_call_started.set()
            await hang.wait()
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/a", hook, methods=["POST"]), Route("/b", hook, methods=["POST"])]
    )
    await add_contacts(world.database_id, 4, tag="c")
    async with served_in_this_loop(app) as url:
        plan = await make_plan(
            world,
            consumers=[
                {"kind": "webhook", "url": f"{url}/a"},
                EMAIL_DELIVERY,
                {"kind": "export"},
                {"kind": "webhook", "url": f"{url}/b", "fields": {"k": "v"}},
            ],
        )
        run_id = await make_run(plan)
        assert await evaluate_run(run_id) == "delivering"

        # A worker starts the consumers and dies in the middle of the first webhook call.
        dying = asyncio.create_task(run_list_consumers(run_id, data_dir=tmp_path, retry=FAST))
        await asyncio.wait_for(first_call_started.wait(), 10)
        # Meanwhile another copy of the message skips the consumer being worked on.
        assert await run_list_consumers(run_id, data_dir=tmp_path, retry=FAST) == {
            2: "done",
            3: "done",
        }
        dying.cancel()
        await asyncio.gather(dying, return_exceptions=True)
        (held,) = await fetch(
            "SELECT status FROM run_consumer WHERE run_id = $1 AND position = 0", run_id
        )
        assert held["status"] == "pending"  # not lost: nothing was recorded

        # The tick's next run_plan finishes it, with the same key as the cut-off call.
        assert await run_list_consumers(run_id, data_dir=tmp_path, retry=FAST) == {0: "done"}
        assert await run_list_consumers(run_id, data_dir=tmp_path, retry=FAST) == {}

    key_a, key_b = webhook_key(run_id, 0), webhook_key(run_id, 3)
    assert key_a != key_b
    assert sorted(calls) == sorted([("/a", key_a), ("/b", key_b), ("/a", key_a)])
    statuses = await fetch(
        "SELECT position, kind, status FROM run_consumer WHERE run_id = $1 ORDER BY position",
        run_id,
    )
    assert [(s["kind"], s["status"]) for s in statuses] == [
        ("webhook", "done"),
        ("delivery", "pending"),  # sent by deliver_batch, not here
        ("export", "done"),
        ("webhook", "done"),
    ]
