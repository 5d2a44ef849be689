"""The plain permission rules: may, database visibility (Q and SQL), ownership (can_edit)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tortoise import connections

from models import ContactDatabase, DndPolicy, Plan, PlanState, SavedRule, Segment
from permissions.names import BUILTIN_PROFILES, Perm
from permissions.principal import Principal
from permissions.rules import (
    can_edit,
    can_grant_databases,
    can_grant_permissions,
    can_see_database,
    database_predicate,
    database_q,
    may,
    visible_database_ids,
)

pytestmark = pytest.mark.usefixtures("orm")  # model instances need initialised Tortoise

OWNER, OTHER = 10, 20
MAIN, FOREIGN = 1, 2


def principal(profile: str, *, user_id: int = OWNER, databases=(MAIN,)) -> Principal:
    perms = BUILTIN_PROFILES[profile]
    return Principal(
        kind="user",
        user_id=user_id,
        api_key_id=None,
        name=profile.lower(),
        profile_name=profile,
        permissions=perms,
        database_ids=frozenset(databases),
        all_databases=Perm.DATABASE_MANAGE in perms,
    )


def objects(author: int, database: int | None = MAIN) -> list:
    return [
        Segment(database_id=database, author_id=author, name="s", definition={}),
        Plan(database_id=database, author_id=author, segment_id=1, name="p", schedule={}),
        SavedRule(database_id=database, author_id=author, name="r", definition={}),
    ]


def test_may_follows_the_profile() -> None:
    assert may(principal("USER"), Perm.SEGMENT_WRITE)
    assert not may(principal("GUEST"), Perm.SEGMENT_WRITE)
    assert not may(None, Perm.SEGMENT_READ)


@pytest.mark.parametrize("profile", list(BUILTIN_PROFILES))
def test_owner_may_edit_own_objects_iff_profile_writes(profile: str) -> None:
    p = principal(profile)
    for obj in objects(author=OWNER):
        kind = {Segment: Perm.SEGMENT_WRITE, Plan: Perm.PLAN_WRITE, SavedRule: Perm.RULE_WRITE}
        assert can_edit(p, obj) is (kind[type(obj)] in p.permissions), (profile, obj)


@pytest.mark.parametrize("profile", list(BUILTIN_PROFILES))
def test_others_objects_need_manage_others(profile: str) -> None:
    p = principal(profile)
    for theirs, mine in zip(objects(author=OTHER), objects(author=OWNER), strict=True):
        expected = Perm.MANAGE_OTHERS in p.permissions and can_edit(p, mine)
        assert can_edit(p, theirs) is expected, (profile, theirs)
    assert not can_edit(principal("USER"), objects(author=OTHER)[0])
    assert can_edit(principal("POWERUSER"), objects(author=OTHER)[0])


def test_nobody_but_all_database_profiles_edits_in_a_foreign_database() -> None:
    for obj in objects(author=OWNER, database=FOREIGN):
        assert not can_edit(principal("POWERUSER"), obj)
        assert can_edit(principal("ADMIN"), obj)


def test_archived_plan_needs_reopen_permission() -> None:
    plan = Plan(
        database_id=MAIN,
        author_id=OWNER,
        segment_id=1,
        name="p",
        schedule={},
        state=PlanState.ARCHIVED,
    )
    assert not can_edit(principal("POWERUSER"), plan)
    assert can_edit(principal("ADMIN"), plan)


def test_deleted_objects_are_not_editable() -> None:
    segment = Segment(
        database_id=MAIN, author_id=OWNER, name="s", definition={}, deleted_at=datetime.now(UTC)
    )
    assert not can_edit(principal("ADMIN"), segment)


def test_dnd_policies_need_dnd_manage_and_global_ones_all_databases() -> None:
    local = DndPolicy(database_id=MAIN, author_id=OWNER, name="d")
    global_ = DndPolicy(database_id=None, author_id=OWNER, name="g")
    assert not can_edit(principal("POWERUSER"), local)
    assert can_edit(principal("ADMIN"), local) and can_edit(principal("ADMIN"), global_)
    custom = Principal(
        kind="user",
        user_id=OWNER,
        api_key_id=None,
        name="d",
        profile_name="DND",
        permissions=frozenset({Perm.DND_MANAGE}),
        database_ids=frozenset({MAIN}),
        all_databases=False,
    )
    assert can_edit(custom, local)
    assert not can_edit(custom, global_)


def test_unknown_object_kinds_are_not_editable() -> None:
    assert not can_edit(principal("ADMIN"), ContactDatabase(name="x"))
    assert not can_edit(None, objects(author=OWNER)[0])


def test_visibility_and_grant_rules() -> None:
    assert visible_database_ids(principal("ADMIN")) is None
    assert visible_database_ids(principal("USER")) == frozenset({MAIN})
    assert can_see_database(principal("USER"), MAIN)
    assert not can_see_database(principal("USER"), FOREIGN)
    assert not can_see_database(principal("USER"), None)
    assert can_grant_databases(principal("USER"), frozenset({MAIN}))
    assert not can_grant_databases(principal("USER"), frozenset({MAIN, FOREIGN}))
    assert can_grant_permissions(principal("ADMIN"), BUILTIN_PROFILES["POWERUSER"])
    assert not can_grant_permissions(principal("POWERUSER"), BUILTIN_PROFILES["ADMIN"])


async def test_database_filters_select_only_visible_rows(db) -> None:
    main = await ContactDatabase.create(name="Main")
    await ContactDatabase.create(name="Foreign")
    user = principal("USER", databases=(main.id,))
    by_q = await ContactDatabase.filter(database_q(user, "id")).values_list("name", flat=True)
    assert by_q == ["Main"]
    params: list = []
    where = database_predicate(user, "id", params)
    rows = await connections.get("default").execute_query_dict(
        f"SELECT name FROM contact_database WHERE {where} ORDER BY name", params
    )
    assert [r["name"] for r in rows] == ["Main"]
    admin_params: list = []
    assert database_predicate(principal("ADMIN"), "id", admin_params) == "TRUE"
    assert admin_params == []
    everything = await ContactDatabase.filter(database_q(principal("ADMIN"), "id")).count()
    assert everything == 2


async def test_database_predicate_numbers_its_parameter_after_existing_ones(db) -> None:
    params: list = ["already"]
    assert database_predicate(principal("USER"), "c.database_id", params) == (
        "c.database_id = ANY($2::int[])"
    )
    assert params == ["already", [MAIN]]
