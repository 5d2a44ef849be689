"""run_plan's list rules beyond consent and address: exclusion segment, frequency cap, the
top-up flag, a person counted once by a global DND policy, and deleting a run's list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from actors.plans import PlanError, create_plan, update_plan
from actors.run_plan import evaluate_run
from models import DndPolicy, Plan, PlanRun, Segment
from tests.actors.plan_fixtures import (
    World,
    add_contacts,
    fetch,
    make_plan,
    make_run,
    make_world,
    recipients_by_status,
)


async def _reasons(run_id: int, ids: list[int]) -> set[str | None]:
    rows = await fetch(
        "SELECT DISTINCT exclusion_reason FROM recipient"
        " WHERE run_id = $1 AND contact_id = ANY($2::bigint[])",
        run_id,
        ids,
    )
    return {r["exclusion_reason"] for r in rows}


async def _funnel(run_id: int) -> dict[str, int]:
    (row,) = await fetch("SELECT funnel FROM plan_run WHERE id = $1", run_id)
    return row["funnel"] if isinstance(row["funnel"], dict) else json.loads(row["funnel"])


async def _sent(run_id: int, ids: list[int], when: datetime) -> None:
    await fetch(
        "INSERT INTO recipient (run_id, contact_id, status, sent_at)"
        " SELECT $1, c, 'sent', $3 FROM unnest($2::bigint[]) c",
        run_id,
        ids,
        when,
    )


async def test_members_of_the_exclusion_segment_are_excluded_with_their_reason(
    world: World,
) -> None:
    kept = await add_contacts(world.database_id, 6, tag="keep")
    vip = await add_contacts(world.database_id, 4, tag="vip", email_domain="vip.example")
    no_consent_vip = await add_contacts(
        world.database_id, 2, tag="vnc", email_domain="vip.example", consent=False
    )
    exclusion = await Segment.create(
        database_id=world.database_id,
        name="vip",
        author_id=world.user_id,
        definition={
            "root": {
                "contact": {
                    "conditions": [{"field": "email", "op": "ends_with", "value": "vip.example"}]
                }
            }
        },
    )
    plan = await make_plan(world, options={"exclusion_segment_id": exclusion.id})
    run_id = await make_run(plan)
    assert await evaluate_run(run_id) == "delivering"

    assert await _reasons(run_id, kept) == {None}
    assert await _reasons(run_id, vip) == {"exclusion_segment"}
    assert await _reasons(run_id, no_consent_vip) == {"no_consent"}  # precedence
    funnel = await _funnel(run_id)
    assert funnel["exclusion_segment"] == 4
    assert funnel["pending"] == 6
    assert funnel["segment"] == 12


async def test_frequency_cap_excludes_contacts_sent_anything_in_the_last_days(
    world: World,
) -> None:
    contacts = await add_contacts(world.database_id, 9, tag="c")
    earlier = await make_run(
        await make_plan(world), scheduled_for=datetime.now(UTC) - timedelta(days=20)
    )
    now = datetime.now(UTC)
    await _sent(earlier, contacts[:3], now - timedelta(days=2))  # within 7 days: capped
    await _sent(earlier, contacts[3:6], now - timedelta(days=9))  # before: not capped
    await fetch(  # failed sends are not contacts
        "INSERT INTO recipient (run_id, contact_id, status, sent_at)"
        " SELECT $1, c, 'failed', now() FROM unnest($2::bigint[]) c",
        earlier,
        contacts[6:],
    )
    plan = await make_plan(world, options={"frequency_cap_days": 7})
    run_id = await make_run(plan)
    await evaluate_run(run_id)

    assert await _reasons(run_id, contacts[:3]) == {"frequency_cap"}
    assert await _reasons(run_id, contacts[3:]) == {None}
    assert (await _funnel(run_id))["frequency_cap"] == 3


async def test_top_up_rows_are_flagged_and_segment_rows_are_not(world: World) -> None:
    members = await add_contacts(world.database_id, 20, tag="in")
    rest = await add_contacts(world.database_id, 50, tag="out", city="Elsewhere")
    plan = await make_plan(
        world,
        options={
            "contacts": {"mode": "exact", "count": 30},
            "if_short": "top_up",
            "top_up_percent": 20,
            "batch_size": 7,
        },
    )
    run_id = await make_run(plan)
    await evaluate_run(run_id)

    rows = await fetch(
        "SELECT contact_id, top_up, batch_no FROM recipient WHERE run_id = $1", run_id
    )
    flagged = {r["contact_id"] for r in rows if r["top_up"]}
    assert {r["contact_id"] for r in rows if not r["top_up"]} == set(members)
    assert len(flagged) == 6 and flagged <= set(rest)  # 20 % of 30
    funnel = await _funnel(run_id)
    assert funnel["top_up"] == 6 and funnel["pending"] == 26 and funnel["segment"] == 20
    # Batches: 20 listed in 3 batches (7, 7, 6), the 6 added from batch 3.
    batches = await fetch(
        "SELECT batch_no, size FROM delivery_batch WHERE run_id = $1 ORDER BY batch_no", run_id
    )
    assert [(b["batch_no"], b["size"]) for b in batches] == [(0, 7), (1, 7), (2, 6), (3, 6)]
    per_batch = await fetch(
        "SELECT batch_no, count(*) AS n FROM recipient WHERE run_id = $1 AND status = 'pending'"
        " GROUP BY batch_no ORDER BY batch_no",
        run_id,
    )
    assert [(b["batch_no"], b["n"]) for b in per_batch] == [(0, 7), (1, 7), (2, 6), (3, 6)]


async def test_a_person_matched_by_email_and_phone_counts_one_send_once(world: World) -> None:
    here = await add_contacts(world.database_id, 1, tag="p", email_domain="same.example")
    other = await make_world("other")
    there = await add_contacts(other.database_id, 1, tag="p", email_domain="same.example")
    old = await make_run(
        await make_plan(other), scheduled_for=datetime.now(UTC) - timedelta(days=1)
    )
    await _sent(old, there, datetime.now(UTC) - timedelta(hours=1))  # same email and phone
    policy = await DndPolicy.create(
        name="g", rules=[{"max": 2, "period": "week"}], author_id=world.user_id
    )
    run_id = await make_run(await make_plan(world, dnd_policy=policy))
    await evaluate_run(run_id)
    assert await _reasons(run_id, here) == {None}  # one message so far, two allowed

    second = await make_run(await make_plan(other), scheduled_for=datetime.now(UTC))
    await _sent(second, there, datetime.now(UTC) - timedelta(minutes=5))
    again = await make_run(await make_plan(world, dnd_policy=policy))
    await evaluate_run(again)
    assert await _reasons(again, here) == {"dnd"}  # two messages: at the limit


async def test_the_exclusion_segment_must_be_a_live_segment_of_the_database(
    world: World,
) -> None:
    other = await make_world("other")
    foreign = await Segment.create(
        database_id=other.database_id, name="f", author_id=world.user_id, definition={}
    )
    schedule = {"kind": "once", "start": "2030-01-01", "time": "09:00"}
    with pytest.raises(PlanError) as caught:
        await create_plan(
            author_id=world.user_id,
            database_id=world.database_id,
            name="p",
            segment_id=world.segment_id,
            schedule=schedule,
            options={"exclusion_segment_id": foreign.id},
        )
    assert (caught.value.code, caught.value.path) == ("not_found", "options.exclusion_segment_id")
    assert not await Plan.exists()

    own = await Segment.create(
        database_id=world.database_id, name="o", author_id=world.user_id, definition={}
    )
    plan = await create_plan(
        author_id=world.user_id,
        database_id=world.database_id,
        name="p",
        segment_id=world.segment_id,
        schedule=schedule,
        options={"exclusion_segment_id": own.id},
    )
    await Segment.filter(id=own.id).update(deleted_at=datetime.now(UTC))
    renamed = await update_plan(plan.id, plan.version, name="kept")  # still its own choice
    assert renamed.options["exclusion_segment_id"] == own.id


async def test_deleting_a_plan_deletes_its_runs_lists(world: World) -> None:
    await add_contacts(world.database_id, 5, tag="c")
    plan = await make_plan(world)
    run_id = await make_run(plan)
    await evaluate_run(run_id)
    keep = await make_plan(world)
    kept_run = await make_run(keep)
    await evaluate_run(kept_run)
    assert sum((await recipients_by_status(run_id)).values()) == 5

    await plan.delete()
    assert not await PlanRun.filter(id=run_id).exists()
    assert await recipients_by_status(run_id) == {}
    assert sum((await recipients_by_status(kept_run)).values()) == 5
