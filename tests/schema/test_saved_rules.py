"""Saved rules: presets shared in a database, favourites seen only by their author."""

from __future__ import annotations

import pytest

from models import SavedRule
from tests.schema.segment_world import build_world, error_codes, gid, run

pytestmark = pytest.mark.asyncio(loop_scope="session")

CREATE = """
mutation($input: CreateSavedRuleInput!) {
  createSavedRule(input: $input) {
    savedRule { id name kind version editable ruleJson database { name } rule { path event { type window { last { amount unit } } } } author { username } }
    userErrors { path message code }
  }
}"""  # noqa: E501

LIST = """
query($db: ID!, $kind: SavedRuleKind) {
  savedRules(databaseId: $db, kind: $kind) { totalCount edges { node { name kind editable } } }
}"""

UPDATE = """
mutation($input: UpdateSavedRuleInput!) {
  updateSavedRule(input: $input) {
    savedRule { name version kind } userErrors { path code }
  }
}"""

DELETE = "mutation($id: ID!) { deleteSavedRule(id: $id) { deletedId userErrors { code } } }"

RECENT_BUYERS = {"event": {"type": "purchase", "window": {"last": {"amount": 30, "unit": "DAY"}}}}


async def _save(gql, world, profile: str, name: str, kind: str, **rule) -> dict:
    data = await run(
        gql,
        world.token(profile),
        CREATE,
        {"input": {"databaseId": world.shop_id, "name": name, "kind": kind, **rule}},
    )
    assert data["createSavedRule"]["userErrors"] == []
    return data["createSavedRule"]["savedRule"]


async def _listed(gql, world, profile: str, kind: str | None = None) -> list[tuple]:
    data = await run(gql, world.token(profile), LIST, {"db": world.shop_id, "kind": kind})
    return [(e["node"]["name"], e["node"]["kind"]) for e in data["savedRules"]["edges"]]


async def test_presets_are_shared_and_favourites_are_private(gql, accounts) -> None:
    world = await build_world(accounts)
    favourite = await _save(gql, world, "USER", "My buyers", "FAVOURITE", rule=RECENT_BUYERS)
    assert favourite["rule"] == {
        "path": "event",
        "event": {"type": "purchase", "window": {"last": {"amount": 30, "unit": "DAY"}}},
    }
    assert favourite["ruleJson"]["event"]["window"]["last"]["unit"] == "day"
    assert favourite["author"]["username"] == "user" and favourite["editable"] is True
    assert favourite["database"] == {"name": "Shop"}
    preset = await _save(
        gql, world, "USER", "Italians", "PRESET",
        ruleJson={"contact": {"conditions": [{"field": "country", "op": "eq", "value": "IT"}]}},
    )  # fmt: skip

    assert await _listed(gql, world, "USER") == [("Italians", "PRESET"), ("My buyers", "FAVOURITE")]
    assert await _listed(gql, world, "USER", "FAVOURITE") == [("My buyers", "FAVOURITE")]
    for other in ("GUEST", "POWERUSER", "ADMIN"):
        assert await _listed(gql, world, other) == [("Italians", "PRESET")], other

    node = "query($id: ID!) { node(id: $id) { ... on SavedRule { name } } }"
    assert await error_codes(gql, world.token("POWERUSER"), node, {"id": favourite["id"]}) == [
        "NOT_FOUND"
    ]
    mine = await run(gql, world.token("USER"), node, {"id": favourite["id"]})
    assert mine["node"] == {"name": "My buyers"}

    rename = {"input": {"id": favourite["id"], "version": 1, "name": "x"}}
    assert await error_codes(gql, world.token("POWERUSER"), UPDATE, rename) == ["NOT_FOUND"]
    delete = {"id": favourite["id"]}
    assert await error_codes(gql, world.token("POWERUSER"), DELETE, delete) == ["NOT_FOUND"]
    # a colleague with manage_others may change a preset; one without may not
    assert await error_codes(
        gql, world.token("GUEST"), UPDATE, {"input": {"id": preset["id"], "version": 1}}
    ) == ["FORBIDDEN"]
    changed = await run(
        gql,
        world.token("POWERUSER"),
        UPDATE,
        {"input": {"id": preset["id"], "version": 1, "name": "Italians (all)"}},
    )
    assert changed["updateSavedRule"] == {
        "savedRule": {"name": "Italians (all)", "version": 2, "kind": "PRESET"},
        "userErrors": [],
    }


async def test_guest_cannot_save_rules(gql, accounts) -> None:
    world = await build_world(accounts)
    variables = {"input": {"databaseId": world.shop_id, "name": "x", "rule": RECENT_BUYERS}}
    assert await error_codes(gql, world.token("GUEST"), CREATE, variables) == ["FORBIDDEN"]
    assert await SavedRule.all().count() == 0


async def test_rule_mistakes_and_stale_versions_are_user_errors(gql, accounts) -> None:
    world = await build_world(accounts)
    bad = {"event": {"type": "teleported"}}
    data = await run(
        gql,
        world.token("USER"),
        CREATE,
        {"input": {"databaseId": world.shop_id, "name": "x", "rule": bad}},
    )
    errors = data["createSavedRule"]["userErrors"]
    assert [(e["path"], e["code"]) for e in errors] == [
        (["rule", "event", "type"], "UNKNOWN_EVENT_TYPE")
    ]
    assert await SavedRule.all().count() == 0

    rule = await _save(gql, world, "USER", "Buyers", "PRESET", rule=RECENT_BUYERS)
    ok = {"input": {"id": rule["id"], "version": 1, "kind": "FAVOURITE"}}
    assert (await run(gql, world.token("USER"), UPDATE, ok))["updateSavedRule"]["userErrors"] == []
    stale = await run(gql, world.token("USER"), UPDATE, ok)
    assert stale["updateSavedRule"] == {
        "savedRule": {"name": "Buyers", "version": 2, "kind": "FAVOURITE"},
        "userErrors": [{"path": ["version"], "code": "CONFLICT"}],
    }
    gone = await run(gql, world.token("USER"), DELETE, {"id": rule["id"]})
    assert gone["deleteSavedRule"] == {"deletedId": rule["id"], "userErrors": []}
    assert await _listed(gql, world, "USER") == []


async def test_rules_of_another_database_are_not_found(gql, accounts) -> None:
    world = await build_world(accounts)
    foreign = await SavedRule.create(
        database=world.elsewhere,
        author=world.user("ADMIN"),
        name="Foreign",
        kind="preset",
        definition=RECENT_BUYERS,
    )
    token = world.token("POWERUSER")
    listing = {"db": world.elsewhere_id, "kind": None}
    assert await error_codes(gql, token, LIST, listing) == ["NOT_FOUND"]
    fid = gid("SavedRule", foreign.id)
    assert await error_codes(gql, token, DELETE, {"id": fid}) == ["NOT_FOUND"]
    create = {"input": {"databaseId": world.elsewhere_id, "name": "x", "rule": RECENT_BUYERS}}
    assert await error_codes(gql, token, CREATE, create) == ["NOT_FOUND"]
    assert await _listed(gql, world, "ADMIN") == []  # the shop has none
