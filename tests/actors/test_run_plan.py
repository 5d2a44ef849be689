"""run_plan: the recipient list and its funnel, written by set-based SQL from the segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.run_plan import evaluate_run
from models import DndPolicy, Plan
from tests.actors.plan_fixtures import (
    EMAIL_DELIVERY,
    World,
    add_contacts,
    fetch,
    make_plan,
    make_run,
    recipients_by_status,
)


async def _run(plan: Plan) -> tuple[int, str]:
    run_id = await make_run(plan)
    return run_id, await evaluate_run(run_id)


async def _status_of(run_id: int, ids: list[int]) -> set[tuple[str, str | None]]:
    rows = await fetch(
        "SELECT DISTINCT status, exclusion_reason FROM recipient"
        " WHERE run_id = $1 AND contact_id = ANY($2::bigint[])",
        run_id,
        ids,
    )
    return {(r["status"], r["exclusion_reason"]) for r in rows}


async def test_every_exclusion_reason_is_recorded_with_its_contacts(world: World) -> None:
    clean = await add_contacts(world.database_id, 40, tag="ok")
    no_consent = await add_contacts(world.database_id, 5, tag="nc", consent=False)
    no_email = await add_contacts(world.database_id, 6, tag="na", email=False)
    both = await add_contacts(world.database_id, 2, tag="nb", consent=False, email=False)
    outside = await add_contacts(world.database_id, 9, tag="out", city="Elsewhere")
    plan = await make_plan(world)
    run_id, state = await _run(plan)

    assert state == "delivering"
    assert await _status_of(run_id, clean) == {("pending", None)}
    assert await _status_of(run_id, no_consent) == {("excluded", "no_consent")}
    assert await _status_of(run_id, no_email) == {("excluded", "no_address")}
    assert await _status_of(run_id, both) == {("excluded", "no_consent")}  # precedence
    assert await _status_of(run_id, outside) == set()  # not in the segment, not listed
    run = (await fetch("SELECT * FROM plan_run WHERE id = $1", run_id))[0]
    funnel = (
        run["funnel"]
        if isinstance(run["funnel"], dict)
        else __import__("json").loads(run["funnel"])
    )
    assert funnel["segment"] == 53
    assert funnel["no_consent"] == 7
    assert funnel["no_address"] == 6
    assert funnel["pending"] == 40
    assert run["segment_count"] == 53
    assert run["listed_at"] is not None


async def test_dnd_excludes_contacts_at_their_limit(world: World) -> None:
    contacts = await add_contacts(world.database_id, 20, tag="c")
    earlier = await make_plan(world)
    old_run = await make_run(earlier, scheduled_for=datetime.now(UTC) - timedelta(days=3))
    # This week: two sends to contacts 0-4, one to 5-9 and 15-19; 10 days ago: one to 15-19.
    week, fortnight = datetime.now(UTC) - timedelta(days=2), datetime.now(UTC) - timedelta(days=10)
    await fetch(
        "INSERT INTO recipient (run_id, contact_id, status, sent_at)"
        " SELECT $1, c, 'sent', $3 FROM unnest($2::bigint[]) c",
        old_run,
        contacts[:10],
        week,
    )
    other_run = await make_run(earlier, scheduled_for=datetime.now(UTC) - timedelta(days=1))
    await fetch(
        "INSERT INTO recipient (run_id, contact_id, status, sent_at)"
        " SELECT $1, c, 'sent', $3 FROM unnest($2::bigint[]) c",
        other_run,
        contacts[:5] + contacts[15:20],
        week,
    )
    third = await make_run(earlier, scheduled_for=datetime.now(UTC) - timedelta(days=11))
    await fetch(
        "INSERT INTO recipient (run_id, contact_id, status, sent_at)"
        " SELECT $1, c, 'sent', $3 FROM unnest($2::bigint[]) c",
        third,
        contacts[15:20],
        fortnight,
    )
    policy = await DndPolicy.create(
        database_id=world.database_id,
        name="two a week",
        rules=[{"max": 2, "period": "week"}, {"max": 2, "period": "month"}],
        author_id=world.user_id,
    )
    plan = await make_plan(world, dnd_policy=policy)
    run_id, _ = await _run(plan)

    assert await _status_of(run_id, contacts[:5]) == {("excluded", "dnd")}  # 2 this week
    assert await _status_of(run_id, contacts[5:15]) == {("pending", None)}  # 1 or 0
    assert await _status_of(run_id, contacts[15:20]) == {("excluded", "dnd")}  # 2 this month


async def test_default_policy_applies_when_the_plan_has_none(world: World) -> None:
    contacts = await add_contacts(world.database_id, 4, tag="c")
    earlier = await make_plan(world)
    old_run = await make_run(earlier, scheduled_for=datetime.now(UTC) - timedelta(hours=3))
    await fetch(
        "INSERT INTO recipient (run_id, contact_id, status, sent_at)"
        " SELECT $1, c, 'sent', now() - interval '1 hour' FROM unnest($2::bigint[]) c",
        old_run,
        contacts[:2],
    )
    await DndPolicy.create(
        database_id=None,
        name="global default",
        rules=[{"max": 1, "period": "day"}],
        is_default=True,
        author_id=world.user_id,
    )
    run_id, _ = await _run(await make_plan(world))
    assert await _status_of(run_id, contacts[:2]) == {("excluded", "dnd")}
    assert await _status_of(run_id, contacts[2:]) == {("pending", None)}


async def test_global_policy_counts_a_person_across_databases_by_email(world: World) -> None:
    from tests.actors.plan_fixtures import make_world

    here = await add_contacts(world.database_id, 3, tag="p", email_domain="same.example")
    other = await make_world("other")
    there = await add_contacts(other.database_id, 3, tag="p", email_domain="same.example")
    other_plan = await make_plan(other)
    other_run = await make_run(other_plan, scheduled_for=datetime.now(UTC) - timedelta(hours=2))
    await fetch(
        "INSERT INTO recipient (run_id, contact_id, status, sent_at)"
        " SELECT $1, c, 'sent', now() - interval '1 hour' FROM unnest($2::bigint[]) c",
        other_run,
        there[:1],  # p-1@same.example got a message from the other database
    )
    global_policy = await DndPolicy.create(
        database_id=None, name="g", rules=[{"max": 1, "period": "week"}], author_id=world.user_id
    )
    local_policy = await DndPolicy.create(
        database_id=world.database_id,
        name="l",
        rules=[{"max": 1, "period": "week"}],
        author_id=world.user_id,
    )
    run_global, _ = await _run(await make_plan(world, dnd_policy=global_policy))
    run_local, _ = await _run(await make_plan(world, dnd_policy=local_policy))
    assert await _status_of(run_global, here[:1]) == {("excluded", "dnd")}
    assert await _status_of(run_global, here[1:]) == {("pending", None)}
    assert await _status_of(run_local, here) == {("pending", None)}  # per database: not counted


async def test_control_group_is_deterministic_per_plan_and_never_sent(world: World) -> None:
    await add_contacts(world.database_id, 1000, tag="c")
    plan = await make_plan(world, options={"control_percent": 20})
    first, _ = await _run(plan)
    second = await make_run(plan, scheduled_for=datetime.now(UTC) - timedelta(seconds=5))
    await evaluate_run(second)
    counts = await recipients_by_status(first)
    control = counts[("control", "control")]
    assert 120 < control < 280  # 20 % of 1000, hash-distributed
    assert counts[("pending", None)] == 1000 - control
    same = await fetch(
        "SELECT count(*) AS n FROM recipient a JOIN recipient b USING (contact_id)"
        " WHERE a.run_id = $1 AND b.run_id = $2 AND a.status = 'control'"
        " AND b.status = 'control'",
        first,
        second,
    )
    assert same[0]["n"] == control
    batches = await fetch(
        "SELECT count(*) AS n FROM recipient WHERE run_id = $1 AND status = 'control'"
        " AND batch_no IS NOT NULL",
        first,
    )
    assert batches[0]["n"] == 0


async def test_exact_contacts_number_cuts_the_list(world: World) -> None:
    await add_contacts(world.database_id, 100, tag="c")
    plan = await make_plan(
        world, options={"contacts": {"mode": "exact", "count": 30}, "batch_size": 7}
    )
    run_id, state = await _run(plan)
    counts = await recipients_by_status(run_id)
    assert counts == {("pending", None): 30, ("excluded", "limit"): 70}
    assert state == "delivering"
    batches = await fetch(
        "SELECT batch_no, size FROM delivery_batch WHERE run_id = $1 ORDER BY batch_no", run_id
    )
    assert [b["size"] for b in batches] == [7, 7, 7, 7, 2]
    per_batch = await fetch(
        "SELECT batch_no, count(*) AS n FROM recipient WHERE run_id = $1 AND status = 'pending'"
        " GROUP BY batch_no ORDER BY batch_no",
        run_id,
    )
    assert [(r["batch_no"], r["n"]) for r in per_batch] == [
        (b["batch_no"], b["size"]) for b in batches
    ]


async def test_range_takes_at_most_max_and_accepts_at_least_min(world: World) -> None:
    await add_contacts(world.database_id, 50, tag="c")
    plan = await make_plan(
        world, options={"contacts": {"mode": "range", "min": 10, "max": 20}, "if_short": "error"}
    )
    run_id, state = await _run(plan)
    assert state == "delivering"
    assert (await recipients_by_status(run_id))[("pending", None)] == 20


async def test_short_list_with_error_fails_the_run_and_the_plan(world: World) -> None:
    await add_contacts(world.database_id, 10, tag="c")
    plan = await make_plan(
        world, options={"contacts": {"mode": "exact", "count": 25}, "if_short": "error"}
    )
    run_id, state = await _run(plan)
    assert state == "failed"
    run = (await fetch("SELECT state, error FROM plan_run WHERE id = $1", run_id))[0]
    assert "contacts number not reached: 10 to send, 25 wanted" in run["error"]
    assert (await Plan.get(id=plan.id)).state == "error"
    assert await recipients_by_status(run_id) == {}
    assert await fetch("SELECT 1 FROM delivery_batch WHERE run_id = $1", run_id) == []


async def test_short_list_sent_anyway(world: World) -> None:
    await add_contacts(world.database_id, 10, tag="c")
    plan = await make_plan(world, options={"contacts": {"mode": "exact", "count": 25}})
    run_id, state = await _run(plan)
    assert state == "delivering"
    assert await recipients_by_status(run_id) == {("pending", None): 10}


async def test_top_up_adds_random_contacts_from_the_rest_up_to_the_percentage(
    world: World,
) -> None:
    await add_contacts(world.database_id, 80, tag="in")
    rest = await add_contacts(world.database_id, 100, tag="out", city="Elsewhere")
    await add_contacts(world.database_id, 50, tag="rest-nc", city="Elsewhere", consent=False)
    plan = await make_plan(
        world,
        options={
            "contacts": {"mode": "exact", "count": 100},
            "if_short": "top_up",
            "top_up_percent": 10,
            "batch_size": 30,
        },
    )
    run_id, state = await _run(plan)
    assert state == "delivering"
    counts = await recipients_by_status(run_id)
    assert counts == {("pending", None): 90}  # 80 + at most 10 % of 100
    added = await fetch(
        "SELECT contact_id FROM recipient WHERE run_id = $1 AND contact_id = ANY($2::bigint[])",
        run_id,
        rest,
    )
    assert len(added) == 10  # only eligible contacts of the rest (consent given)
    run = (await fetch("SELECT funnel FROM plan_run WHERE id = $1", run_id))[0]
    assert '"top_up": 10' in str(run["funnel"]) or run["funnel"].get("top_up") == 10
    batched = await fetch(
        "SELECT sum(size) AS n, count(*) AS b FROM delivery_batch WHERE run_id = $1", run_id
    )
    assert batched[0]["n"] == 90
    dup = await fetch(
        "SELECT batch_no, count(*) AS n FROM recipient WHERE run_id = $1 AND status = 'pending'"
        " GROUP BY batch_no HAVING count(*) > 30",
        run_id,
    )
    assert dup == []


async def test_evaluating_again_changes_nothing(world: World) -> None:
    await add_contacts(world.database_id, 25, tag="c")
    plan = await make_plan(world, options={"batch_size": 10})
    run_id, first = await _run(plan)
    before = await recipients_by_status(run_id)
    assert first == "delivering"
    assert await evaluate_run(run_id) == "delivering"
    assert await recipients_by_status(run_id) == before
    batches = await fetch("SELECT count(*) AS n FROM delivery_batch WHERE run_id = $1", run_id)
    assert batches[0]["n"] == 3


async def test_a_deleted_segment_still_runs_with_its_stored_definition(world: World) -> None:
    from models import Segment

    await add_contacts(world.database_id, 5, tag="c")
    await Segment.filter(id=world.segment_id).update(deleted_at=datetime.now(UTC))
    run_id, state = await _run(await make_plan(world))
    assert state == "delivering"
    assert await recipients_by_status(run_id) == {("pending", None): 5}


async def test_an_invalid_segment_fails_the_run_with_the_node_path(world: World) -> None:
    from models import Segment

    await Segment.filter(id=world.segment_id).update(
        definition={
            "root": {"contact": {"conditions": [{"field": "nope", "op": "eq", "value": 1}]}}
        }
    )
    run_id, state = await _run(await make_plan(world))
    assert state == "failed"
    error = (await fetch("SELECT error FROM plan_run WHERE id = $1", run_id))[0]["error"]
    assert "invalid segment" in error and "root.contact.conditions[0]" in error


async def test_plan_without_delivery_lists_and_completes(world: World) -> None:
    await add_contacts(world.database_id, 5, tag="c")
    plan = await make_plan(world, consumers=[{"kind": "export"}])
    run_id, state = await _run(plan)
    assert state == "completed"
    assert await recipients_by_status(run_id) == {("pending", None): 5}


async def test_export_and_webhook_consumers_run_once(world: World, tmp_path) -> None:
    import csv

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from actors.consumers import export_path, run_list_consumers
    from actors.platform_client import RetryPolicy
    from tests.actors.conftest import served_in_this_loop

    received: list[dict] = []
    answers = [503]  # the automation fails once, then takes it

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        status = answers.pop(0) if answers else 200
        return JSONResponse({}, status_code=status)

    await add_contacts(world.database_id, 12, tag="c")
    await add_contacts(world.database_id, 3, tag="nc", consent=False)
    async with served_in_this_loop(
        Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    ) as url:
        plan = await make_plan(
            world,
            consumers=[
                EMAIL_DELIVERY,
                {"kind": "export"},
                {"kind": "webhook", "url": f"{url}/hook", "fields": {"campaign": "spring"}},
            ],
        )
        run_id, state = await _run(plan)
        assert state == "delivering"
        fast = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)
        assert await run_list_consumers(run_id, data_dir=tmp_path, retry=fast) == {
            1: "done",
            2: "done",
        }
        assert await run_list_consumers(run_id, data_dir=tmp_path, retry=fast) == {}
    with export_path(tmp_path, run_id, 1).open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15
    assert {r["status"] for r in rows} == {"pending", "excluded"}
    assert sum(r["exclusion_reason"] == "no_consent" for r in rows) == 3
    assert {r["top_up"] for r in rows} == {"false"}
    assert [r["fields"] for r in received] == [{"campaign": "spring"}] * 2  # one retry
    assert received[-1]["run_id"] == run_id and received[-1]["funnel"]["no_consent"] == 3
    consumers = await fetch(
        "SELECT position, status, stats FROM run_consumer WHERE run_id = $1 ORDER BY position",
        run_id,
    )
    assert [c["status"] for c in consumers] == ["pending", "done", "done"]


async def test_a_webhook_refusing_with_4xx_fails_its_consumer(world: World, tmp_path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from actors.consumers import run_list_consumers
    from tests.actors.conftest import served_in_this_loop

    async def hook(request) -> JSONResponse:
        return JSONResponse({"error": {"code": "bad", "message": "no such flow"}}, 404)

    await add_contacts(world.database_id, 2, tag="c")
    async with served_in_this_loop(Starlette(routes=[Route("/h", hook, methods=["POST"])])) as url:
        plan = await make_plan(world, consumers=[{"kind": "webhook", "url": f"{url}/h"}])
        run_id, _ = await _run(plan)
        assert await run_list_consumers(run_id, data_dir=tmp_path) == {0: "failed"}
    (row,) = await fetch("SELECT status, error FROM run_consumer WHERE run_id = $1", run_id)
    assert row["status"] == "failed" and "404" in row["error"] and "no such flow" in row["error"]


async def test_segment_sql_that_the_database_refuses_fails_the_run(world: World) -> None:
    async def broken(definition, database_id, as_of):
        return "SELECT (1 / (id - id))::bigint AS contact_id FROM contact", []

    await add_contacts(world.database_id, 3, tag="c")
    run_id = await make_run(await make_plan(world))
    assert await evaluate_run(run_id, compile_segment=broken) == "failed"
    (run,) = await fetch("SELECT state, error FROM plan_run WHERE id = $1", run_id)
    assert "could not be evaluated" in run["error"] and "division by zero" in run["error"]
    assert await recipients_by_status(run_id) == {}
