"""DND policies: rule validation, which policy a plan uses, and the phone identity of a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actors.dnd import DndRule, InvalidDndRules, parse_rules, policy_for_plan
from actors.plans import PlanError, validate_dnd_rules
from actors.run_plan import evaluate_run
from models import DndPolicy
from tests.actors.plan_fixtures import World, add_contacts, fetch, make_plan, make_run, make_world


def test_rules_are_parsed() -> None:
    assert parse_rules([{"max": 2, "period": "week"}, {"max": 1, "period": "day"}]) == [
        DndRule(2, "week"),
        DndRule(1, "day"),
    ]


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        ({"max": 1}, "rules"),
        ([{"max": 0, "period": "week"}], "rules[0].max"),
        ([{"max": 1, "period": "week"}, {"max": 1, "period": "fortnight"}], "rules[1].period"),
        ([{"max": 1, "period": "week", "extra": 1}], "rules[0]"),
        ([{"max": True, "period": "week"}], "rules[0].max"),
    ],
)
def test_bad_rules_name_the_rule(rules: object, path: str) -> None:
    with pytest.raises(InvalidDndRules) as caught:
        parse_rules(rules)
    assert caught.value.errors[0][0] == path
    with pytest.raises(PlanError) as plan_error:
        validate_dnd_rules(rules)
    assert plan_error.value.path == path


async def test_the_database_default_wins_over_the_global_default(world: World) -> None:
    other = await make_world("other")
    shared = await DndPolicy.create(
        name="global", rules=[], is_default=True, author_id=world.user_id
    )
    assert (await policy_for_plan(None, world.database_id)).id == shared.id
    own = await DndPolicy.create(
        database_id=world.database_id,
        name="own",
        rules=[],
        is_default=True,
        author_id=world.user_id,
    )
    chosen = await DndPolicy.create(name="chosen", rules=[], author_id=world.user_id)
    assert (await policy_for_plan(None, world.database_id)).id == own.id
    assert (await policy_for_plan(None, other.database_id)).id == shared.id
    assert (await policy_for_plan(chosen.id, world.database_id)).id == chosen.id
    await DndPolicy.filter(id=chosen.id).update(deleted_at=datetime.now(UTC))
    assert (await policy_for_plan(chosen.id, world.database_id)).id == own.id


async def test_global_policy_matches_a_person_by_phone_too(world: World) -> None:
    here = await add_contacts(world.database_id, 2, tag="x", email=False)
    other = await make_world("other")
    there = await add_contacts(other.database_id, 2, tag="y", email=False)  # same phones
    old = await make_run(
        await make_plan(other), scheduled_for=datetime.now(UTC) - timedelta(hours=1)
    )
    await fetch(
        "INSERT INTO recipient (run_id, contact_id, status, sent_at)"
        " VALUES ($1, $2, 'sent', now() - interval '10 minutes')",
        old,
        there[1],
    )
    policy = await DndPolicy.create(
        name="g", rules=[{"max": 1, "period": "day"}], author_id=world.user_id
    )
    plan = await make_plan(
        world,
        dnd_policy=policy,
        consumers=[{"kind": "delivery", "channel": "sms", "template": "t"}],
    )
    run_id = await make_run(plan)
    await evaluate_run(run_id)
    rows = await fetch(
        "SELECT contact_id, status, exclusion_reason FROM recipient WHERE run_id = $1"
        " ORDER BY contact_id",
        run_id,
    )
    assert [(r["contact_id"], r["exclusion_reason"]) for r in rows] == [
        (here[0], None),
        (here[1], "dnd"),
    ]
