"""Reading segments: the list (filters, sorts, keyset pages), preview, explain, size history,
plans on a segment, and a constant number of SQL statements however long the list."""

from __future__ import annotations

import datetime as dt

import pytest

from models import ContactDatabase, Plan, Segment
from tests.schema.segment_world import build_world, buyers, error_codes, gid, run, women
from tests.schema.statement_counter import count_statements

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIST = """
query($db: ID!, $first: Int, $after: String, $f: SegmentFilter, $o: SegmentOrderField!,
      $d: SortDirection!) {
  segments(databaseId: $db, first: $first, after: $after, filter: $f, orderBy: $o,
           direction: $d) {
    totalCount
    edges { node { name } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _names(gql, world, order: str, direction: str = "ASC", **variables) -> list[str]:
    names: list[str] = []
    after = None
    while True:
        data = await run(
            gql,
            world.token("USER"),
            LIST,
            {"db": world.shop_id, "first": 2, "after": after, "o": order, "d": direction}
            | variables,
        )
        page = data["segments"]
        names += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["pageInfo"]["endCursor"]


async def test_list_sorts_filters_and_pages(gql, accounts) -> None:
    world = await build_world(accounts)
    rows = {}
    for i, (name, profile, count) in enumerate(
        [
            ("delta", "USER", 5),
            ("Alpha", "ADMIN", None),
            ("charlie", "USER", 50),
            ("bravo", "GUEST", 7),
            ("echo", "POWERUSER", 5),
        ]
    ):
        rows[name] = await world.segment(name, women(), profile=profile)
        created = dt.datetime(2026, 1, 1 + i, tzinfo=dt.UTC)
        await Segment.filter(id=rows[name].id).update(created_at=created, last_count=count)
    await world.segment("gone", women())
    await Segment.filter(name="gone").update(deleted_at=dt.datetime.now(dt.UTC))

    assert await _names(gql, world, "NAME") == ["Alpha", "bravo", "charlie", "delta", "echo"]
    assert await _names(gql, world, "NAME", "DESC") == [
        "echo",
        "delta",
        "charlie",
        "bravo",
        "Alpha",
    ]
    assert await _names(gql, world, "CREATED_AT") == ["delta", "Alpha", "charlie", "bravo", "echo"]
    # ties (delta and echo: 5) by id; never counted (Alpha) last
    by_count = ["charlie", "bravo", "delta", "echo", "Alpha"]
    assert await _names(gql, world, "COUNT", "DESC") == by_count
    assert await _names(gql, world, "AUTHOR") == ["Alpha", "bravo", "echo", "delta", "charlie"]

    user_id = gid("User", world.user("USER").id)
    by_author = await _names(gql, world, "NAME", f={"authorId": user_id})
    assert by_author == ["charlie", "delta"]
    window = {"createdAfter": "2026-01-02T00:00:00Z", "createdBefore": "2026-01-04T00:00:00Z"}
    assert await _names(gql, world, "NAME", f=window) == ["Alpha", "charlie"]
    assert await _names(gql, world, "NAME", f={"nameContains": "HA"}) == ["Alpha", "charlie"]

    data = await run(
        gql, world.token("USER"), LIST,
        {"db": world.shop_id, "first": 2, "o": "NAME", "d": "ASC", "f": {"nameContains": "a"}},
    )  # fmt: skip
    assert data["segments"]["totalCount"] == 4  # alpha, bravo, charlie, delta
    bad = {"db": world.shop_id, "first": 2, "after": "nonsense", "o": "NAME", "d": "ASC"}
    assert await error_codes(gql, world.token("USER"), LIST, bad) == ["BAD_USER_INPUT"]


async def test_preview_pages_through_members_and_explain_says_why(gql, accounts) -> None:
    world = await build_world(accounts)
    segment = await world.segment("Women", women())
    preview = """
    query($id: ID!, $after: String) {
      segment(id: $id) {
        preview(first: 2, after: $after) {
          edges { node { externalId } } pageInfo { hasNextPage endCursor }
        }
      }
    }"""
    sid = gid("Segment", segment.id)
    first = (await run(gql, world.token("USER"), preview, {"id": sid}))["segment"]["preview"]
    assert [e["node"]["externalId"] for e in first["edges"]] == ["anna", "carla"]
    assert first["pageInfo"]["hasNextPage"] is True
    second = (
        await run(
            gql, world.token("USER"), preview, {"id": sid, "after": first["pageInfo"]["endCursor"]}
        )
    )["segment"]["preview"]
    assert [e["node"]["externalId"] for e in second["edges"]] == ["elena"]
    assert second["pageInfo"]["hasNextPage"] is False

    spenders = await world.segment(
        "Italian women who bought",
        {
            "root": {
                "and": [
                    {
                        "contact": {
                            "conditions": [
                                {"field": "gender", "op": "eq", "value": "F"},
                                {"field": "country", "op": "eq", "value": "IT"},
                            ]
                        }
                    },
                    {"event": {"type": "purchase", "count": {"op": "gte", "value": 2}}},
                ]
            }
        },
    )
    explain = """
    query($id: ID!, $c: ID!) {
      segment(id: $id) {
        explain(contactId: $c) { member contact { externalId } nodes { path kind value } }
      }
    }"""
    for name, member, truths in [
        ("anna", True, {"root.and": True, "root.and[0].contact": True, "root.and[1].event": True}),
        (
            "elena",
            False,
            {"root.and": False, "root.and[0].contact": True, "root.and[1].event": False},
        ),
        ("carla", False, {"root.and": False, "root.and[0].contact": False}),
    ]:
        variables = {
            "id": gid("Segment", spenders.id),
            "c": gid("Contact", world.contacts[name].id),
        }
        result = (await run(gql, world.token("GUEST"), explain, variables))["segment"]["explain"]
        assert result["member"] is member and result["contact"]["externalId"] == name
        values = {n["path"]: n["value"] for n in result["nodes"]}
        for path, value in truths.items():
            assert values[path] is value, (name, path)


async def test_a_count_as_of_now_is_kept_and_as_of_another_time_is_not(gql, accounts) -> None:
    world = await build_world(accounts)
    recent = {
        "root": {"event": {"type": "purchase", "window": {"last": {"amount": 7, "unit": "day"}}}}
    }
    segment = await world.segment("Recent buyers", recent)
    sid = gid("Segment", segment.id)
    past = "query($id: ID!, $t: DateTime) { segment(id: $id) { count(asOf: $t) } }"
    ten_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=8)).isoformat()
    assert (await run(gql, world.token("GUEST"), past, {"id": sid, "t": ten_days_ago}))["segment"][
        "count"
    ] == 1  # anna's purchase of 10 days ago
    assert (await Segment.get(id=segment.id)).last_count is None
    assert (await run(gql, world.token("GUEST"), past, {"id": sid}))["segment"]["count"] == 2
    history = "query($id: ID!) { segment(id: $id) { lastCount sizeHistory { day count } } }"
    read = (await run(gql, world.token("GUEST"), history, {"id": sid}))["segment"]
    assert read["lastCount"] == 2
    assert read["sizeHistory"] == [{"day": dt.datetime.now(dt.UTC).date().isoformat(), "count": 2}]


async def test_associated_plans_need_plan_read_and_skip_deleted_plans(gql, accounts) -> None:
    world = await build_world(accounts)
    segment = await world.segment("Buyers", buyers())
    for name, deleted in (("Weekly", None), ("Old", dt.datetime.now(dt.UTC)), ("Daily", None)):
        await Plan.create(
            database=world.shop, segment=segment, name=name, author=world.user("USER"),
            schedule={"kind": "once"}, deleted_at=deleted,
        )  # fmt: skip
    query = "query($id: ID!) { segment(id: $id) { associatedPlans { name } } }"
    read = await run(gql, world.token("GUEST"), query, {"id": gid("Segment", segment.id)})
    assert [p["name"] for p in read["segment"]["associatedPlans"]] == ["Daily", "Weekly"]


async def _list_statements(gql, world, how_many: int) -> int:
    await Plan.filter(database=world.shop).delete()
    await Segment.filter(database=world.shop).delete()
    author = world.user("POWERUSER")
    await Segment.bulk_create(
        [
            Segment(database=world.shop, name=f"s{i:03}", author=world.user(p), definition=women(),
                    last_count=i)
            for i in range(how_many)
            for p in [("USER", "GUEST", "POWERUSER")[i % 3]]
        ]
    )  # fmt: skip
    segments = await Segment.filter(database=world.shop)
    await Plan.bulk_create(
        [
            Plan(database=world.shop, segment=s, name=f"p{s.name}", author=author,
                 schedule={"kind": "once"})
            for s in segments
        ]
    )  # fmt: skip
    query = """
    query($db: ID!) {
      segments(databaseId: $db, first: 100) {
        totalCount
        edges { node {
          name editable lastCount countedAt version
          author { username displayName }
          associatedPlans { name }
          database { name }
          usedBy { name }
        } }
      }
    }"""
    with count_statements() as counter:
        data = await run(gql, world.token("USER"), query, {"db": world.shop_id})
    edges = data["segments"]["edges"]
    assert len(edges) == how_many
    assert all(len(e["node"]["associatedPlans"]) == 1 for e in edges)
    assert {e["node"]["author"]["username"] for e in edges} == (
        {"user"} if how_many == 1 else {"user", "guest", "poweruser"}
    )
    return counter.count


async def test_listing_100_segments_takes_as_many_statements_as_listing_1(gql, accounts) -> None:
    world = await build_world(accounts)
    one = await _list_statements(gql, world, 1)
    hundred = await _list_statements(gql, world, 100)
    assert one == hundred, (one, hundred)
    assert one <= 8  # auth, count, page, authors, plans, databases, used-by


async def test_deleting_a_segment_keeps_its_plans(gql, accounts) -> None:
    world = await build_world(accounts)
    segment = await world.segment("Buyers", buyers())
    plan = await Plan.create(
        database=world.shop, segment=segment, name="Weekly", author=world.user("USER"),
        schedule={"kind": "once"},
    )  # fmt: skip
    delete = "mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }"
    sid = gid("Segment", segment.id)
    result = await run(gql, world.token("USER"), delete, {"id": sid})
    assert result["deleteSegment"] == {"deletedId": sid, "userErrors": []}
    kept = await Plan.get(id=plan.id)
    assert kept.segment_id == segment.id and kept.deleted_at is None  # type: ignore[attr-defined]
    assert (await Segment.get(id=segment.id)).deleted_at is not None
    listing = "query($db: ID!) { segments(databaseId: $db) { totalCount } }"
    listed = await run(gql, world.token("USER"), listing, {"db": world.shop_id})
    assert listed["segments"]["totalCount"] == 0


COUNTED = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { %s } userErrors { code } }
}"""


async def test_last_count_and_counted_at_follow_a_count_in_the_same_response(gql, accounts) -> None:
    world = await build_world(accounts)
    token = world.token("USER")
    before = dt.datetime.now(dt.UTC)
    selections = [
        "count lastCount countedAt",
        "lastCount countedAt count",  # the order of the fields does not matter
        "... on Segment { counted: countedAt } ...Size",  # nor fragments and aliases
    ]
    fragment = "\nfragment Size on Segment { lastCount count }"
    for n, selection in enumerate(selections):
        variables = {
            "input": {"databaseId": world.shop_id, "name": f"W{n}", "definitionJson": women()}
        }
        query = COUNTED % selection + (fragment if "...Size" in selection else "")
        segment = (await run(gql, token, query, variables))["createSegment"]["segment"]
        assert segment["count"] == segment["lastCount"] == 3, selection
        counted_at = dt.datetime.fromisoformat(segment.get("countedAt") or segment["counted"])
        assert counted_at >= before, selection
    stored = await Segment.get(name="W0")
    assert stored.last_count == 3 and stored.counted_at is not None


async def test_last_count_is_the_stored_one_without_a_count_as_of_now(gql, accounts) -> None:
    world = await build_world(accounts)
    segment = await world.segment("Women", women())
    sid = gid("Segment", segment.id)
    token = world.token("GUEST")
    past = "query($id: ID!, $t: DateTime) { segment(id: $id) { lastCount count(asOf: $t) } }"
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    read = (await run(gql, token, past, {"id": sid, "t": yesterday}))["segment"]
    assert read == {"lastCount": None, "count": 3}  # a count as of another time is not kept
    skipped = "query($id: ID!) { segment(id: $id) { lastCount count @skip(if: true) } }"
    assert (await run(gql, token, skipped, {"id": sid}))["segment"] == {"lastCount": None}
    assert (await Segment.get(id=segment.id)).last_count is None
    now = (await run(gql, token, past, {"id": sid, "t": None}))["segment"]
    assert now == {"lastCount": 3, "count": 3}


async def test_a_database_that_does_not_exist_is_not_found_even_for_an_admin(gql, accounts) -> None:
    world = await build_world(accounts)
    gone = await ContactDatabase.create(name="Gone")
    await gone.delete()
    admin = world.token("ADMIN")
    json = {"root": {"event": {"type": "purchase"}}}
    calls = [
        ("query($db: ID!) { segments(databaseId: $db) { totalCount } }", {}),
        (
            "query($db: ID!, $j: JSON) { countDefinition(databaseId: $db, definitionJson: $j)"
            " { count } }",
            {"j": json},
        ),
        (
            'mutation($db: ID!, $j: JSON) { createSegment(input: {databaseId: $db, name: "x",'
            " definitionJson: $j}) { segment { id } } }",
            {"j": json},
        ),
        ("query($db: ID!) { savedRules(databaseId: $db) { totalCount } }", {}),
        (
            "mutation($db: ID!, $j: JSON) { createSavedRule(input: {databaseId: $db,"
            ' name: "x", kind: PRESET, ruleJson: $j}) { savedRule { id } } }',
            {"j": json["root"]},
        ),
    ]
    for db in (gid("Database", gone.id), gid("Database", 987654)):
        for query, variables in calls:
            codes = await error_codes(gql, admin, query, {"db": db, **variables})
            assert codes == ["NOT_FOUND"], (query, db)
    assert await Segment.all().count() == 0
