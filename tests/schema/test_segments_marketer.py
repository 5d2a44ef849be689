"""A marketer's day through HTTP: build a segment rule by rule watching the live count, save
it, combine two segments, clone, and meet a colleague's change (CONFLICT)."""

from __future__ import annotations

import pytest

from tests.schema.segment_world import build_world, buyers, error_codes, gid, run, women

pytestmark = pytest.mark.asyncio(loop_scope="session")

COUNT = """
query($db: ID!, $def: DefinitionInput, $json: JSON) {
  countDefinition(databaseId: $db, definition: $def, definitionJson: $json) {
    count userErrors { path message code }
  }
}"""

CREATE = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) {
    segment { id name version editable lastCount countedAt author { username } }
    userErrors { path message code }
  }
}"""

SEGMENT = """
query($id: ID!) {
  segment(id: $id) {
    id name version lastCount countedAt editable definitionJson
    count
    uses { name }
    usedBy { name }
    author { username }
  }
}"""

UPDATE = """
mutation($input: UpdateSegmentInput!) {
  updateSegment(input: $input) {
    segment { id name version lastCount }
    userErrors { path message code }
  }
}"""

CLONE = """
mutation($id: ID!) {
  cloneSegment(id: $id) {
    segment { id name version editable definitionJson author { username } }
    userErrors { path code }
  }
}"""

DELETE = """
mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { path message code } } }
"""


def _women_in_italy_typed() -> dict:
    return {
        "root": {
            "contact": {
                "match": "ALL",
                "conditions": [
                    {"field": "gender", "op": "eq", "value": "F"},
                    {"field": "country", "op": "eq", "value": ["IT"]},
                ],
            }
        }
    }


async def test_marketer_builds_a_segment_rule_by_rule_and_saves_it(gql, accounts) -> None:
    world = await build_world(accounts)
    token = world.token("USER")

    async def live(definition: dict | None = None, json: dict | None = None) -> int:
        data = await run(gql, token, COUNT, {"db": world.shop_id, "def": definition, "json": json})
        assert data["countDefinition"]["userErrors"] == []
        return data["countDefinition"]["count"]

    assert await live(json=women()) == 3
    typed = _women_in_italy_typed()
    assert await live(typed) == 2
    big_spenders = {
        "and": [
            typed["root"],
            {
                "event": {
                    "type": "purchase",
                    "window": {"last": {"amount": 90, "unit": "DAY"}},
                    "aggregate": {"fn": "SUM", "op": "gt", "value": 500},
                }
            },
        ]
    }
    assert await live({"root": big_spenders}) == 1

    created = await run(
        gql,
        token,
        CREATE,
        {
            "input": {
                "databaseId": world.shop_id,
                "name": "Big spenders",
                "definition": {"root": big_spenders},
            }
        },
    )
    payload = created["createSegment"]
    assert payload["userErrors"] == []
    segment = payload["segment"]
    assert segment["version"] == 1 and segment["editable"] is True
    assert segment["lastCount"] is None and segment["author"]["username"] == "user"

    read = (await run(gql, token, SEGMENT, {"id": segment["id"]}))["segment"]
    assert read["count"] == 1
    assert read["definitionJson"]["root"]["and"][1]["event"]["aggregate"]["fn"] == "sum"
    again = (await run(gql, token, SEGMENT, {"id": segment["id"]}))["segment"]
    assert again["lastCount"] == 1 and again["countedAt"] is not None


async def test_marketer_combines_two_segments_and_cannot_delete_a_used_one(gql, accounts) -> None:
    world = await build_world(accounts)
    token = world.token("USER")
    a = await world.segment("Women", women())
    b = await world.segment("Buyers", buyers())
    combined = {
        "root": {
            "sequence": [
                {"rule": {"segment": {"id": gid("Segment", a.id)}}},
                {"join": "AND", "rule": {"segment": {"id": gid("Segment", b.id)}}},
            ]
        }
    }
    created = await run(
        gql,
        token,
        CREATE,
        {"input": {"databaseId": world.shop_id, "name": "Women buyers", "definition": combined}},
    )
    assert created["createSegment"]["userErrors"] == []
    new_id = created["createSegment"]["segment"]["id"]
    read = (await run(gql, token, SEGMENT, {"id": new_id}))["segment"]
    assert read["count"] == 2  # anna, elena
    assert sorted(s["name"] for s in read["uses"]) == ["Buyers", "Women"]
    assert read["definitionJson"]["root"]["sequence"][0]["rule"]["segment"]["id"] == a.id
    women_read = (await run(gql, token, SEGMENT, {"id": gid("Segment", a.id)}))["segment"]
    assert [s["name"] for s in women_read["usedBy"]] == ["Women buyers"]

    refused = (await run(gql, token, DELETE, {"id": gid("Segment", a.id)}))["deleteSegment"]
    assert refused["deletedId"] is None
    assert refused["userErrors"][0]["code"] == "IN_USE"
    assert "Women buyers" in refused["userErrors"][0]["message"]

    deleted = (await run(gql, token, DELETE, {"id": new_id}))["deleteSegment"]
    assert deleted == {"deletedId": new_id, "userErrors": []}
    assert await error_codes(gql, token, SEGMENT, {"id": new_id}) == ["NOT_FOUND"]
    now_free = (await run(gql, token, DELETE, {"id": gid("Segment", a.id)}))["deleteSegment"]
    assert now_free["userErrors"] == []


async def test_clone_is_a_copy_authored_by_the_caller(gql, accounts) -> None:
    world = await build_world(accounts)
    original = await world.segment("Women", women(), profile="POWERUSER")
    cloned = (await run(gql, world.token("USER"), CLONE, {"id": gid("Segment", original.id)}))[
        "cloneSegment"
    ]
    assert cloned["userErrors"] == []
    copy = cloned["segment"]
    assert copy["name"] == "Copy of Women"
    assert copy["author"]["username"] == "user" and copy["editable"] is True
    assert copy["definitionJson"] == women() and copy["version"] == 1
    assert copy["id"] != gid("Segment", original.id)


async def test_update_with_a_stale_version_is_a_conflict_with_the_current_segment(
    gql, accounts
) -> None:
    world = await build_world(accounts)
    token = world.token("USER")
    segment = await world.segment("Women", women())
    sid = gid("Segment", segment.id)
    first = (await run(gql, token, UPDATE, {"input": {"id": sid, "version": 1, "name": "Ladies"}}))[
        "updateSegment"
    ]
    assert first["userErrors"] == []
    assert first["segment"]["version"] == 2 and first["segment"]["name"] == "Ladies"

    stale = (
        await run(
            gql,
            token,
            UPDATE,
            {"input": {"id": sid, "version": 1, "name": "Women again", "definitionJson": buyers()}},
        )
    )["updateSegment"]
    assert [e["code"] for e in stale["userErrors"]] == ["CONFLICT"]
    assert stale["userErrors"][0]["path"] == ["version"]
    assert stale["segment"] == {"id": sid, "name": "Ladies", "version": 2, "lastCount": None}

    await run(gql, token, SEGMENT, {"id": sid})  # counts: lastCount 3
    redefined = (
        await run(
            gql, token, UPDATE, {"input": {"id": sid, "version": 2, "definitionJson": buyers()}}
        )
    )["updateSegment"]
    assert redefined["userErrors"] == []
    assert redefined["segment"]["version"] == 3
    assert redefined["segment"]["lastCount"] is None  # a new definition needs a new count
