"""`contactplan worker` as a subprocess runs actors enqueued by another process, and ticks."""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest

from actors.broker import BrokerNotReady, DeclaredActor, actor, current_broker, setup_broker
from actors.ping import HEARTBEAT_KEY, PING_KEY, record_ping

WAIT_SECONDS = 120.0


def wait_for_key(client, key: str, command) -> bytes:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = client.get(key)
        if value is not None:
            return value
        if command.process.poll() is not None:
            raise AssertionError(f"worker exited ({command.process.returncode}):\n{command.output}")
        time.sleep(0.1)
    raise AssertionError(f"{key} never appeared:\n{command.output}")


def test_worker_runs_an_enqueued_async_actor(service_env, redis_url, redis, start_command):
    worker = start_command(["worker", "--threads", "2"], service_env)
    worker.wait_for_line(r"worker started")
    setup_broker(redis_url)
    token = uuid.uuid4().hex

    record_ping.send(token)

    value = json.loads(wait_for_key(redis, PING_KEY.format(token=token), worker))
    assert value["pid"] == worker.process.pid  # done by the worker, not by this process
    assert value["database_time"]  # the actor read the database through its Tortoise context
    assert worker.stop() == 0
    assert "Worker has been shut down" in worker.output


def test_worker_scheduler_loop_calls_registered_ticks(service_env, redis, start_command):
    worker = start_command(["worker", "--threads", "1"], service_env)
    key = HEARTBEAT_KEY.format(host=socket.gethostname(), pid=worker.process.pid)
    assert wait_for_key(redis, key, worker)
    assert 0 < redis.ttl(key) <= 10
    assert worker.stop() == 0


def test_actor_is_not_sent_before_a_broker_exists():

    orphan = DeclaredActor(
        lambda: None, name="orphan", queue_name="default", priority=0, options={}
    )
    with pytest.raises(BrokerNotReady, match="setup_broker"):
        orphan.send()


def test_setup_broker_is_idempotent_per_url(redis_url):
    assert setup_broker(redis_url) is setup_broker(redis_url)
    assert current_broker() is setup_broker(redis_url)


def test_actor_declared_after_setup_is_bound_at_once(redis_url):
    broker = setup_broker(redis_url)

    @actor(actor_name="contactplan_test_late_actor", queue_name="contactplan_test")
    def late(value: int) -> int:
        return value * 2

    assert late.bound.broker is broker
    assert late.bound.queue_name == "contactplan_test"
    assert late(21) == 42  # calling the declared actor runs the function itself


def test_sent_message_waits_in_redis_for_a_worker(redis_url, redis):
    setup_broker(redis_url)
    token = uuid.uuid4().hex

    message = record_ping.send(token)

    stored = redis.hget("dramatiq:default.msgs", message.options["redis_message_id"])
    assert stored is not None and token.encode() in stored
