"""A plan with several deliveries (an email and an SMS): a list per channel, each delivered
exactly once, DND counting every message, reports per consumer."""

from __future__ import annotations

import csv
import json
from collections import Counter

from actors.consumers import export_path, run_list_consumers
from actors.deliver import after_batch, batch_key, send_batch
from actors.platform_client import RetryPolicy
from actors.run_plan import evaluate_run
from models import DndPolicy
from permissions.names import Perm
from permissions.principal import Principal
from resolvers.reports import load_reports
from tests.actors.conftest import Sink
from tests.actors.plan_fixtures import (
    EMAIL_DELIVERY,
    SMS_DELIVERY,
    World,
    add_contacts,
    fetch,
    make_plan,
    make_run,
)

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
EXPORT = {"kind": "export"}
EMAIL, SMS = 0, 2  # consumer positions: email, export, SMS


async def _contacts(world: World) -> dict[str, list[int]]:
    """10 with email and phone, 3 with no phone, 2 with no email."""
    both = await add_contacts(world.database_id, 10, tag="both")
    no_phone = await add_contacts(world.database_id, 3, tag="nophone")
    no_email = await add_contacts(world.database_id, 2, tag="noemail", email=False)
    await fetch("UPDATE contact SET phone = NULL WHERE id = ANY($1::bigint[])", no_phone)
    return {"both": both, "no_phone": no_phone, "no_email": no_email}


async def _per_delivery(run_id: int) -> dict[tuple[int, str, str | None], int]:
    rows = await fetch(
        "SELECT coalesce(delivery_no, 0) AS delivery_no, status, exclusion_reason,"
        " count(*) AS n FROM recipient"
        " WHERE run_id = $1 GROUP BY 1, 2, 3",
        run_id,
    )
    return {(r["delivery_no"], r["status"], r["exclusion_reason"]): r["n"] for r in rows}


async def _deliver_all(run_id: int, sink: Sink) -> None:
    batches = await fetch(
        "SELECT consumer_position, batch_no FROM delivery_batch WHERE run_id = $1"
        " ORDER BY consumer_position, batch_no",
        run_id,
    )
    async with sink.client() as client:
        for batch in batches:
            position, batch_no = batch["consumer_position"], batch["batch_no"]
            outcome = await send_batch(run_id, position, batch_no, client=client, retry=FAST)
            assert outcome.status == "sent", outcome
            await after_batch(run_id, position, client)
            again = await send_batch(run_id, position, batch_no, client=client, retry=FAST)
            assert again.status == "skipped"


async def _received(sink: Sink, run_id: int, position: int) -> dict:
    (row,) = await fetch(
        "SELECT platform_delivery_id, status FROM run_consumer WHERE run_id = $1 AND position = $2",
        run_id,
        position,
    )
    assert row["status"] == "started"
    return await sink.received(row["platform_delivery_id"])


async def test_each_delivery_has_its_list_by_its_channel_rules(world: World) -> None:
    people = await _contacts(world)
    plan = await make_plan(
        world, options={"batch_size": 5}, consumers=[EMAIL_DELIVERY, EXPORT, SMS_DELIVERY]
    )
    run_id = await make_run(plan)
    assert await evaluate_run(run_id) == "delivering"
    assert await _per_delivery(run_id) == {
        (0, "pending", None): 13,  # the email: everyone with an email, phone or not
        (0, "excluded", "no_address"): 2,
        (1, "pending", None): 12,  # the SMS: everyone with a phone, email or not
        (1, "excluded", "no_address"): 3,
    }
    no_phone = await fetch(
        "SELECT delivery_no, status, exclusion_reason FROM recipient"
        " WHERE run_id = $1 AND contact_id = $2 ORDER BY delivery_no NULLS FIRST",
        run_id,
        people["no_phone"][0],
    )
    assert [(r["delivery_no"], r["status"], r["exclusion_reason"]) for r in no_phone] == [
        (None, "pending", None),  # the first delivery's rows: NULL (no byte in the row)
        (1, "excluded", "no_address"),
    ]
    (run,) = await fetch("SELECT funnel, segment_count FROM plan_run WHERE id = $1", run_id)
    funnel = json.loads(run["funnel"])
    assert run["segment_count"] == funnel["segment"] == 15  # each contact once
    assert (funnel["pending"], funnel["no_address"]) == (13, 2)
    assert funnel["consumers"][str(EMAIL)]["pending"] == 13
    assert funnel["consumers"][str(SMS)]["pending"] == 12
    assert funnel["consumers"][str(SMS)]["no_address"] == 3
    batches = await fetch(
        "SELECT consumer_position, count(*) AS n, sum(size) AS size FROM delivery_batch"
        " WHERE run_id = $1 GROUP BY 1 ORDER BY 1",
        run_id,
    )
    assert [(b["consumer_position"], b["n"], b["size"]) for b in batches] == [
        (EMAIL, 3, 13),
        (SMS, 3, 12),
    ]
    assert await evaluate_run(run_id) == "delivering"  # listed once
    assert sum((await _per_delivery(run_id)).values()) == 30


async def test_the_export_lists_a_contact_once_per_delivery(world: World, tmp_path) -> None:
    await _contacts(world)
    plan = await make_plan(world, consumers=[EMAIL_DELIVERY, EXPORT, SMS_DELIVERY])
    run_id = await make_run(plan)
    assert await evaluate_run(run_id) == "delivering"
    assert await run_list_consumers(run_id, data_dir=tmp_path) == {1: "done"}
    with export_path(tmp_path, run_id, 1).open() as f:
        rows = list(csv.DictReader(f))
    counts = Counter((r["consumer"], r["status"], r["exclusion_reason"]) for r in rows)
    assert counts == {
        (str(EMAIL), "pending", ""): 13,
        (str(EMAIL), "excluded", "no_address"): 2,
        (str(SMS), "pending", ""): 12,
        (str(SMS), "excluded", "no_address"): 3,
    }


async def test_each_delivery_is_sent_exactly_once_and_reported(world: World, sink: Sink) -> None:
    people = await _contacts(world)
    plan = await make_plan(
        world, options={"batch_size": 5}, consumers=[EMAIL_DELIVERY, EXPORT, SMS_DELIVERY]
    )
    run_id = await make_run(plan)
    assert await evaluate_run(run_id) == "delivering"
    await _deliver_all(run_id, sink)
    (run,) = await fetch("SELECT state FROM plan_run WHERE id = $1", run_id)
    assert run["state"] == "completed"
    email = await _received(sink, run_id, EMAIL)
    sms = await _received(sink, run_id, SMS)
    ids = {kind: {str(i) for i in people[kind]} for kind in people}
    assert set(email["per_contact"]) == ids["both"] | ids["no_phone"]
    assert set(sms["per_contact"]) == ids["both"] | ids["no_email"]
    for received in (email, sms):
        assert received["duplicated_contacts"] == []
        assert set(received["per_contact"].values()) == {1}
        assert received["status"] == "started"
    assert email["batch_keys"] == sorted(batch_key(run_id, EMAIL, b) for b in range(3))
    assert sms["batch_keys"] == sorted(batch_key(run_id, SMS, b) for b in range(3))

    admin = Principal(
        kind="user", user_id=world.user_id, api_key_id=None, name="admin",
        profile_name="ADMIN", permissions=frozenset(Perm), database_ids=frozenset(),
        all_databases=True,
    )  # fmt: skip
    (report,) = await load_reports(admin, [run_id])
    assert (report.segment_size, report.sent, report.excluded) == (15, 13, {"no_address": 2})
    by_position = {c.position: c for c in report.consumers}
    assert (by_position[EMAIL].sent, by_position[EMAIL].excluded) == (13, {"no_address": 2})
    assert (by_position[SMS].sent, by_position[SMS].excluded) == (12, {"no_address": 3})
    assert by_position[SMS].channel == "sms" and by_position[SMS].pending == 0
    assert by_position[SMS].batches == 3 and by_position[1].kind == "export"


async def test_dnd_counts_every_message_of_every_delivery(world: World, sink: Sink) -> None:
    people = await _contacts(world)
    first = await make_plan(world, consumers=[EMAIL_DELIVERY, SMS_DELIVERY])
    first_run = await make_run(first)
    assert await evaluate_run(first_run) == "delivering"
    await _deliver_all(first_run, sink)
    # At most 2 messages a week: who got an email and an SMS is blocked, who got one is not.
    policy = await DndPolicy.create(
        database_id=world.database_id,
        name="two a week",
        rules=[{"max": 2, "period": "week"}],
        author_id=world.user_id,
    )
    second = await make_plan(world, consumers=[EMAIL_DELIVERY], dnd_policy=policy)
    second_run = await make_run(second)
    assert await evaluate_run(second_run) == "delivering"
    rows = await fetch(
        "SELECT contact_id, exclusion_reason FROM recipient WHERE run_id = $1", second_run
    )
    reasons = {r["contact_id"]: r["exclusion_reason"] for r in rows}
    assert {reasons[c] for c in people["both"]} == {"dnd"}
    assert {reasons[c] for c in people["no_phone"]} == {None}  # one email only
    assert {reasons[c] for c in people["no_email"]} == {"no_address"}


async def test_dnd_counts_the_messages_of_the_same_run_before(world: World) -> None:
    people = await _contacts(world)
    policy = await DndPolicy.create(
        database_id=world.database_id,
        name="one a day",
        rules=[{"max": 1, "period": "day"}],
        author_id=world.user_id,
    )
    plan = await make_plan(world, consumers=[EMAIL_DELIVERY, SMS_DELIVERY], dnd_policy=policy)
    run_id = await make_run(plan)
    assert await evaluate_run(run_id) == "delivering"
    # One message a day: the email goes; the SMS only to who gets no email (no address).
    assert await _per_delivery(run_id) == {
        (0, "pending", None): 13,
        (0, "excluded", "no_address"): 2,
        (1, "pending", None): 2,
        (1, "excluded", "dnd"): 10,
        (1, "excluded", "no_address"): 3,
    }
    pending_sms = await fetch(
        "SELECT contact_id FROM recipient WHERE run_id = $1 AND delivery_no = 1"
        " AND status = 'pending'",
        run_id,
    )
    assert sorted(r["contact_id"] for r in pending_sms) == people["no_email"]
