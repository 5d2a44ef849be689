"""Who may do what with segments, and that nothing of another database is reachable."""

from __future__ import annotations

import pytest

from models import Segment
from tests.schema.segment_world import build_world, error_codes, gid, run, women

pytestmark = pytest.mark.asyncio(loop_scope="session")

MUTATIONS = {
    "create": (
        'mutation($db: ID!) { createSegment(input: {databaseId: $db, name: "x",'
        ' definitionJson: {root: {event: {type: "purchase"}}}}) { segment { id } } }'
    ),
    "update": 'mutation($id: ID!) { updateSegment(input: {id: $id, version: 1, name: "y"})'
    " { segment { id } } }",
    "clone": "mutation($id: ID!) { cloneSegment(id: $id) { segment { id } } }",
    "delete": "mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }",
}

READ = """
query($id: ID!) { segment(id: $id) { name editable lastCount count definition { root { path } } } }
"""


async def test_guest_reads_and_counts_but_every_mutation_is_forbidden(gql, accounts) -> None:
    world = await build_world(accounts)
    segment = await world.segment("Women", women())
    token = world.token("GUEST")
    variables = {"db": world.shop_id, "id": gid("Segment", segment.id)}
    for name, mutation in MUTATIONS.items():
        used = {k: v for k, v in variables.items() if f"${k}" in mutation}
        assert await error_codes(gql, token, mutation, used) == ["FORBIDDEN"], name
    read = (await run(gql, token, READ, {"id": gid("Segment", segment.id)}))["segment"]
    assert read["name"] == "Women" and read["editable"] is False and read["count"] == 3
    assert await Segment.all().count() == 1
    refreshed = await Segment.get(id=segment.id)
    assert refreshed.name == "Women" and refreshed.deleted_at is None


async def test_a_user_cannot_change_a_colleagues_segment_but_a_poweruser_can(gql, accounts) -> None:
    world = await build_world(accounts)
    segment = await world.segment("Women", women(), profile="ADMIN")
    sid = gid("Segment", segment.id)
    read = (await run(gql, world.token("USER"), READ, {"id": sid}))["segment"]
    assert read["editable"] is False
    for name in ("update", "delete"):
        codes = await error_codes(gql, world.token("USER"), MUTATIONS[name], {"id": sid})
        assert codes == ["FORBIDDEN"], name
    assert (await run(gql, world.token("POWERUSER"), READ, {"id": sid}))["segment"]["editable"]
    updated = await run(gql, world.token("POWERUSER"), MUTATIONS["update"], {"id": sid})
    assert updated["updateSegment"]["segment"]["id"] == sid
    assert (await Segment.get(id=segment.id)).name == "y"


async def test_compiled_sql_needs_the_sql_permission(gql, accounts) -> None:
    world = await build_world(accounts)
    segment = await world.segment("Women", women())
    query = "query($id: ID!) { segment(id: $id) { name sql { statement parameters } } }"
    sid = gid("Segment", segment.id)
    denied = await gql.execute(query, {"id": sid}, token=world.token("POWERUSER"))
    assert denied["data"]["segment"] == {"name": "Women", "sql": None}
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    shown = (await run(gql, world.token("ADMIN"), query, {"id": sid}))["segment"]["sql"]
    assert "contact" in shown["statement"] and "$1" in shown["statement"]
    assert shown["parameters"][0] == world.shop.id and "F" in shown["parameters"]


async def test_nothing_of_another_database_is_reachable(gql, accounts) -> None:
    world = await build_world(accounts)
    foreign = await world.segment("Foreign", women(), profile="ADMIN", database=world.elsewhere)
    mine = await world.segment("Mine", women())
    token = world.token("POWERUSER")  # manage_others, but no grant on `elsewhere`
    fid = gid("Segment", foreign.id)
    assert await error_codes(gql, token, READ, {"id": fid}) == ["NOT_FOUND"]
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert await error_codes(gql, token, node, {"id": fid}) == ["NOT_FOUND"]
    listing = "query($db: ID!) { segments(databaseId: $db) { totalCount } }"
    assert await error_codes(gql, token, listing, {"db": world.elsewhere_id}) == ["NOT_FOUND"]
    for name in ("update", "clone", "delete"):
        assert await error_codes(gql, token, MUTATIONS[name], {"id": fid}) == ["NOT_FOUND"], name
    counting = (
        "query($db: ID!) { countDefinition(databaseId: $db,"
        ' definitionJson: {root: {event: {type: "purchase"}}}) { count } }'
    )
    assert await error_codes(gql, token, counting, {"db": world.elsewhere_id}) == ["NOT_FOUND"]

    explain = "query($id: ID!, $c: ID!) { segment(id: $id) { explain(contactId: $c) { member } } }"
    stranger = gid("Contact", world.stranger.id)
    codes = await error_codes(gql, token, explain, {"id": gid("Segment", mine.id), "c": stranger})
    assert codes == ["NOT_FOUND"]

    reference = {"root": {"and": [women()["root"], {"segment": {"id": fid}}]}}
    create = (
        'mutation($db: ID!, $def: JSON) { createSegment(input: {databaseId: $db, name: "r",'
        " definitionJson: $def}) { segment { id } userErrors { path code } } }"
    )
    payload = (await run(gql, token, create, {"db": world.shop_id, "def": reference}))[
        "createSegment"
    ]
    assert payload["segment"] is None
    assert payload["userErrors"] == [
        {"path": ["definitionJson", "root", "and", "1", "segment", "id"], "code": "UNKNOWN_SEGMENT"}
    ]
    # the segment list of the shop does not show the foreign segment either
    names = "query($db: ID!) { segments(databaseId: $db) { edges { node { name } } } }"
    shown = (await run(gql, token, names, {"db": world.shop_id}))["segments"]["edges"]
    assert [e["node"]["name"] for e in shown] == ["Mine"]


async def test_injection_strings_are_plain_data(gql, accounts) -> None:
    world = await build_world(accounts)
    evil = "x'); DROP TABLE segment; --"
    like = "%' OR 1=1 --"
    create = """
    mutation($db: ID!, $name: String!, $def: JSON) {
      createSegment(input: {databaseId: $db, name: $name, description: $name, tags: [$name],
                            definitionJson: $def}) {
        segment { id name description tags count }
        userErrors { path code }
      }
    }"""
    definition = {
        "root": {
            "or": [
                {"contact": {"conditions": [{"field": "first_name", "op": "like", "value": like}]}},
                {"contact": {"conditions": [{"field": "country", "op": "eq", "value": evil}]}},
                {
                    "event": {
                        "type": "email_opened",
                        "conditions": [{"property": "subject", "op": "eq", "value": evil}],
                    }
                },
            ]
        }
    }
    data = await run(
        gql, world.token("USER"), create, {"db": world.shop_id, "name": evil, "def": definition}
    )
    segment = data["createSegment"]["segment"]
    assert data["createSegment"]["userErrors"] == []
    assert segment["name"] == evil and segment["description"] == evil and segment["tags"] == [evil]
    assert segment["count"] == 0
    listing = """
    query($db: ID!, $f: SegmentFilter) { segments(databaseId: $db, filter: $f) { totalCount } }
    """
    for text in (evil, like, "%", "_"):
        found = await run(
            gql, world.token("USER"), listing, {"db": world.shop_id, "f": {"nameContains": text}}
        )
        assert found["segments"]["totalCount"] == (1 if text in evil else 0), text
    assert await Segment.all().count() == 1
