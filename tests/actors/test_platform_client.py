"""The platform client against the real send-sink on loopback: calls, errors, retries."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.platform_client import (
    DeliveryReference,
    PermanentError,
    PlatformClient,
    RetryableError,
    RetryPolicy,
    parse_retry_after,
    send_with_retries,
)
from tests.actors.conftest import Sink, free_socket

MESSAGE = {"template": "welcome-v2", "subject": "Welcome", "sender": "shop@example.com"}
FAST = RetryPolicy(max_attempts=30, base_delay=0.01, max_delay=0.05)


def people(first: int, count: int) -> list[dict]:
    return [
        {"contact_ref": str(n), "address": f"c{n}@example.com"} for n in range(first, first + count)
    ]


async def test_a_delivery_is_created_filled_started_and_read_back(sink: Sink):
    reference = DeliveryReference(database_id=3, run_id=55, consumer_position=1)
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE, reference=reference)
        assert (delivery.status, delivery.channel) == ("draft", "email")
        first = await client.add_recipients(delivery.id, "run-55-b0", people(0, 3))
        second = await client.add_recipients(delivery.id, "run-55-b1", people(3, 2))
        started = await client.start(delivery.id)
        again = await client.start(delivery.id)
        status = await client.status(delivery.id)
    assert (first.accepted, first.duplicate, second.accepted) == (3, False, 2)
    assert started.status == again.status == status.status == "started"
    assert status.reference == "contactplan:3:55:1"
    assert DeliveryReference.parse(status.reference) == reference
    assert status.counts["recipients"] == 5 and status.counts["batches"] == 2
    received = await sink.received(delivery.id)
    assert received["message"] == MESSAGE
    assert received["per_contact"] == {str(n): 1 for n in range(5)}


async def test_a_repeated_batch_key_returns_the_first_result_and_stores_nothing_more(sink: Sink):
    async with sink.client() as client:
        delivery = await client.create_delivery("sms", {"template": "t"})
        batch = [{"contact_ref": "7", "address": "+391234"}, {"contact_ref": "8", "address": None}]
        first = await client.add_recipients(delivery.id, "key-1", batch)
        # Same recipients, keys in another order: the same body.
        reordered = [{"address": r["address"], "contact_ref": r["contact_ref"]} for r in batch]
        second = await client.add_recipients(delivery.id, "key-1", reordered)
    assert (first.accepted, first.duplicate) == (2, False)
    assert (second.accepted, second.duplicate) == (2, True)
    received = await sink.received(delivery.id)
    assert received["per_contact"] == {"7": 1, "8": 1}
    assert received["counts"]["recipients"] == 2 and received["batch_keys"] == ["key-1"]


async def test_a_batch_key_reused_with_other_recipients_is_a_permanent_conflict(sink: Sink):
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)
        await client.add_recipients(delivery.id, "key-1", people(0, 2))
        with pytest.raises(PermanentError) as caught:
            await client.add_recipients(delivery.id, "key-1", people(0, 3))
    assert (caught.value.status, caught.value.code) == (409, "idempotency_key_reused")
    assert (await sink.received(delivery.id))["per_contact"] == {"0": 1, "1": 1}


async def test_creating_with_an_idempotency_key_twice_gives_one_delivery(sink: Sink):
    async with sink.client() as client:
        first = await client.create_delivery("push", MESSAGE, idempotency_key="run-9-c0")
        second = await client.create_delivery("push", MESSAGE, idempotency_key="run-9-c0")
        with pytest.raises(PermanentError) as caught:
            await client.create_delivery("email", MESSAGE, idempotency_key="run-9-c0")
    assert first.id == second.id
    assert caught.value.status == 409
    assert len((await sink.control("GET", "/_sink/received"))["deliveries"]) == 1


async def test_a_wrong_token_is_refused_everywhere(sink: Sink):
    async with PlatformClient(sink.url, "wrong") as client:
        with pytest.raises(PermanentError) as caught:
            await client.create_delivery("email", MESSAGE)
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    bad = Sink(sink.url, token="wrong")
    with pytest.raises(AssertionError, match="unauthorized"):
        await bad.control("GET", "/_sink/received")
    assert (await sink.control("GET", "/_sink/received"))["deliveries"] == []


async def test_bad_requests_are_permanent_errors_with_the_platform_reason(sink: Sink):
    async with sink.client() as client:
        with pytest.raises(PermanentError) as bad_channel:
            await client.create_delivery("fax", MESSAGE)
        delivery = await client.create_delivery("email", MESSAGE)
        with pytest.raises(PermanentError) as bad_recipient:
            await client.add_recipients(delivery.id, "k", [{"contact_ref": "1"}, {"address": "x"}])
        with pytest.raises(PermanentError) as missing:
            await client.status("dlv_nope")
    assert bad_channel.value.status == 422 and "channel must be one of" in bad_channel.value.message
    assert "recipients[1].contact_ref" in bad_recipient.value.message
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert (await sink.received(delivery.id))["counts"]["recipients"] == 0


async def test_fail_rate_with_a_seed_fails_that_share_the_same_way_each_time(sink: Sink):
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)

        async def pattern() -> list[bool]:
            await sink.faults(fail_rate=0.25, status=503, seed=42)
            outcomes = []
            for _ in range(400):
                try:
                    await client.status(delivery.id)
                    outcomes.append(False)
                except RetryableError as error:
                    assert (error.status, error.code) == (503, "injected_failure")
                    outcomes.append(True)
            return outcomes

        first, second = await pattern(), await pattern()
    assert first == second
    assert 0.25 - 0.07 < sum(first) / len(first) < 0.25 + 0.07  # 3 standard deviations


async def test_a_slow_answer_within_the_timeout_succeeds(sink: Sink):
    await sink.faults(delay_ms=100)
    async with sink.client(timeout=5) as client:
        delivery = await client.create_delivery("email", MESSAGE)
    assert delivery.status == "draft"


async def test_an_answer_slower_than_the_timeout_is_retryable(sink: Sink):
    await sink.faults(delay_ms=2000)
    async with sink.client(timeout=0.2) as client:
        with pytest.raises(RetryableError) as caught:
            await client.create_delivery("email", MESSAGE)
    assert caught.value.code == "timeout"


async def test_a_hanging_call_times_out_but_took_effect_and_the_retry_is_a_duplicate(sink: Sink):
    async with sink.client(timeout=0.3) as client:
        delivery = await client.create_delivery("email", MESSAGE)
        await sink.faults(timeout_rate=1.0, hang_seconds=2)
        with pytest.raises(RetryableError) as caught:
            await client.add_recipients(delivery.id, "b0", people(0, 4))
        await sink.faults()
        retried = await client.add_recipients(delivery.id, "b0", people(0, 4))
    assert caught.value.code == "timeout"
    assert (retried.accepted, retried.duplicate) == (4, True)
    assert (await sink.received(delivery.id))["per_contact"] == {str(n): 1 for n in range(4)}


async def test_retries_against_a_faulty_sink_store_every_batch_exactly_once(sink: Sink):
    retries: list[tuple[int, str]] = []
    async with sink.client(timeout=0.3) as client:
        delivery = await send_with_retries(
            lambda: client.create_delivery("email", MESSAGE, idempotency_key="d1"), policy=FAST
        )
        await sink.faults(
            fail_rate=0.25, lose_rate=0.2, timeout_rate=0.05, hang_seconds=1, status=502, seed=3
        )
        results = []
        for batch_no in range(30):
            results.append(
                await send_with_retries(
                    lambda b=batch_no: client.add_recipients(
                        delivery.id, f"b{b}", people(b * 20, 20)
                    ),
                    policy=FAST,
                    on_retry=lambda attempt, error, wait: retries.append((attempt, error.code)),
                )
            )
        await sink.faults()
        status = await client.status(delivery.id)
    received = await sink.received(delivery.id)
    assert received["duplicated_contacts"] == []
    assert received["per_contact"] == {str(n): 1 for n in range(600)}
    assert status.counts == status.counts | {"recipients": 600, "batches": 30}
    assert all(r.accepted == 20 for r in results)
    codes = {code for _, code in retries}
    assert {"injected_failure", "timeout"} <= codes
    assert any(r.duplicate for r in results)  # a lost response was retried into a duplicate


async def test_a_4xx_is_permanent_and_not_retried(sink: Sink):
    calls = 0
    await sink.faults(fail_rate=1.0, status=400)
    async with sink.client() as client:

        async def call():
            nonlocal calls
            calls += 1
            return await client.create_delivery("email", MESSAGE)

        with pytest.raises(PermanentError) as caught:
            await send_with_retries(call, policy=FAST, on_retry=lambda *a: pytest.fail("retried"))
    assert calls == 1 and caught.value.status == 400


async def test_retries_stop_after_max_attempts_with_the_last_error(sink: Sink):
    calls = 0
    await sink.faults(fail_rate=1.0, status=503)
    async with sink.client() as client:

        async def call():
            nonlocal calls
            calls += 1
            return await client.create_delivery("email", MESSAGE)

        with pytest.raises(RetryableError) as caught:
            await send_with_retries(call, policy=RetryPolicy(max_attempts=4, base_delay=0.01))
    assert calls == 4 and caught.value.status == 503


async def test_a_429_retry_after_is_honoured(sink: Sink):
    waits: list[float] = []
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)
        await sink.faults(max_rate=0.5)  # a burst of one call, then one call every 2 s
        await client.status(delivery.id)
        with pytest.raises(RetryableError) as caught:
            await client.status(delivery.id)
        status = await send_with_retries(
            lambda: client.status(delivery.id),
            policy=FAST,
            on_retry=lambda attempt, error, wait: waits.append(wait),
        )
    assert (caught.value.status, caught.value.code) == (429, "rate_limited")
    assert caught.value.retry_after == 2.0
    assert waits and all(w >= 1.0 for w in waits)  # the header, not FAST's 0.05 s ceiling
    assert status.id == delivery.id


async def test_a_closed_port_is_a_retryable_connection_error():
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    async with PlatformClient(url, "t", timeout=2) as client:
        with pytest.raises(RetryableError) as caught:
            await client.status("dlv_1")
    assert caught.value.code == "connection"


async def test_feedback_is_read_page_by_page_with_a_cursor(sink: Sink):
    async with sink.client() as client:
        delivery = await client.create_delivery("email", MESSAGE)
        await client.add_recipients(delivery.id, "b0", people(0, 5))
        await client.start(delivery.id)
        await sink.control("POST", "/_sink/emit-feedback", {"delivery_id": delivery.id})
        first = await client.feedback(delivery.id, limit=3)
        second = await client.feedback(delivery.id, after=first.cursor, limit=3)
        third = await client.feedback(delivery.id, after=second.cursor)
    assert [i["type"] for i in first.items + second.items] == ["delivered"] * 5
    assert len(first.items) == 3 and len(second.items) == 2 and third.items == []
    assert {i["contact_ref"] for i in first.items + second.items} == {str(n) for n in range(5)}
    assert third.cursor == second.cursor == "5"


def test_from_settings_needs_a_platform_url():
    from contactplan.settings import Settings

    with pytest.raises(ValueError, match="DELIVERY_URL"):
        PlatformClient.from_settings(Settings())


async def test_the_platform_timeout_comes_from_the_settings():
    from contactplan.settings import Settings

    settings = Settings.from_env(
        {"DELIVERY_URL": "http://127.0.0.1:9", "DELIVERY_TIMEOUT_SECONDS": "3"}
    )
    assert settings.delivery_timeout_seconds == 3
    async with PlatformClient.from_settings(settings) as client:
        assert client._http.timeout.read == 3.0
    async with PlatformClient.from_settings(Settings(delivery_url="http://x")) as client:
        assert client._http.timeout.read == 10.0  # the default
    with pytest.raises(ValueError, match="DELIVERY_TIMEOUT_SECONDS"):
        Settings.from_env({"DELIVERY_TIMEOUT_SECONDS": "soon"})
    assert Settings.from_env({"DELIVERY_WEBHOOK_SECRET": "s"}).delivery_webhook_secret == "s"


# --- pure helpers ----------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    )
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@given(st.integers(1, 20), st.integers(0, 2**32))
def test_backoff_grows_with_jitter_and_stays_under_the_ceiling(attempt, seed):
    policy = RetryPolicy(base_delay=0.5, max_delay=30)
    ceiling = min(30, 0.5 * 2 ** (attempt - 1))
    wait = policy.delay(attempt, RetryableError("x"), random.Random(seed))
    assert ceiling / 2 <= wait <= ceiling
    assert policy.delay(attempt, RetryableError("x", retry_after=12), random.Random(seed)) == 12
    assert policy.delay(attempt, RetryableError("x", retry_after=9999), random.Random(seed)) == 300


def test_delivery_reference_round_trips_and_rejects_foreign_references():
    reference = DeliveryReference(12, 3456, 2)
    assert DeliveryReference.parse(str(reference)) == reference
    for foreign in ("campaign-7", "contactplan:1:2", "contactplan:a:2:3", None, 5):
        assert DeliveryReference.parse(foreign) is None
