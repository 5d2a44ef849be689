"""Dashboards through GraphQL: hand-counted panels, the cache and reload, permissions, and
ids of another database. The shop (tests.schema.test_reports.build_shop): 10 contacts,
c1-c6 F and c7-c10 M; c1-c5 live in Rome (the segment "Romans"), c6-c10 in Milan."""

from __future__ import annotations

import pytest

from models import Profile
from tests.schema.test_reports import build_shop, gid

pytestmark = pytest.mark.asyncio(loop_scope="session")

PANELS = """{ computedAt cached segmentId databaseId
  panels { key title kind unit computedAt series { name points { label value } }
           summary { label value } } }"""
DATABASE = (
    "query($id: ID!, $options: DashboardOptionsInput, $reload: Boolean! = false) {"
    " databaseDashboard(databaseId: $id, options: $options, reload: $reload) " + PANELS + " }"
)
SEGMENT = (
    "query($id: ID!, $options: DashboardOptionsInput, $reload: Boolean! = false) {"
    " segmentDashboard(segmentId: $id, options: $options, reload: $reload) " + PANELS + " }"
)


def points(dashboard: dict, key: str) -> dict[str, float]:
    panel = next(p for p in dashboard["panels"] if p["key"] == key)
    (series,) = panel["series"]
    return {p["label"]: p["value"] for p in series["points"]}


async def test_database_dashboard_counts_cache_and_reload(gql, accounts, redis):
    shop = await build_shop(accounts)
    token = accounts.token["GUEST"]
    variables = {"id": gid("Database", shop.database_id), "options": {"fieldKeys": ["city"]}}
    first = await gql.execute(DATABASE, variables, token=token)
    assert "errors" not in first, first
    dashboard = first["data"]["databaseDashboard"]
    assert dashboard["cached"] is False and dashboard["segmentId"] is None
    keys = [p["key"] for p in dashboard["panels"]]
    for key in (
        "age_bands", "gender", "country", "city", "contactability", "events_by_category",
        "events_by_type", "spend_distribution", "purchase_count_distribution",
        "top_categories", "field:city",
    ):  # fmt: skip
        assert key in keys
    assert "size_over_time" not in keys  # a database has no snapshots
    assert points(dashboard, "gender") == {"F": 6.0, "M": 4.0}
    assert points(dashboard, "field:city") == {"Milan": 5.0, "Rome": 5.0}
    events = next(p for p in dashboard["panels"] if p["key"] == "events_by_type")
    assert events["kind"] == "LINE"
    second = (await gql.execute(DATABASE, variables, token=token))["data"]["databaseDashboard"]
    assert second["cached"] is True and second["computedAt"] == dashboard["computedAt"]
    reloaded = await gql.execute(DATABASE, variables | {"reload": True}, token=token)
    assert reloaded["data"]["databaseDashboard"]["cached"] is False


async def test_segment_dashboard_covers_only_its_members(gql, accounts, redis):
    shop = await build_shop(accounts)
    variables = {
        "id": gid("Segment", shop.segment_id),
        "options": {"planId": gid("Plan", shop.plan_id), "grain": "DAY", "sizeDays": 7},
    }
    result = await gql.execute(SEGMENT, variables, token=accounts.token["USER"])
    assert "errors" not in result, result
    dashboard = result["data"]["segmentDashboard"]
    assert dashboard["segmentId"] == gid("Segment", shop.segment_id)
    assert points(dashboard, "gender") == {"F": 5.0}  # the Romans are c1-c5
    assert points(dashboard, "city") == {"Rome": 5.0}
    keys = [p["key"] for p in dashboard["panels"]]
    assert "influenced_purchases" in keys and "size_over_time" in keys


async def test_dashboards_of_another_database_are_not_found(gql, accounts, redis):
    shop = await build_shop(accounts)
    token = accounts.token["USER"]
    for query, variables in (
        (DATABASE, {"id": gid("Database", shop.other_database_id)}),
        (SEGMENT, {"id": gid("Segment", shop.other_segment_id)}),
        (SEGMENT, {"id": gid("Database", shop.segment_id)}),  # a number of the wrong type
        (  # a plan of another database in the options
            DATABASE,
            {
                "id": gid("Database", shop.database_id),
                "options": {"planId": gid("Plan", await other_plan_id(shop))},
            },
        ),
    ):
        result = await gql.execute(query, variables, token=token)
        assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND", result


async def other_plan_id(shop) -> int:
    from models import PlanRun

    return (await PlanRun.get(id=shop.other_run_id)).plan_id  # type: ignore[attr-defined]


async def test_dashboard_needs_dashboard_read_and_valid_options(gql, accounts, redis):
    shop = await build_shop(accounts)
    bare = await accounts.make_user("bare", "GUEST", [])
    bare.profile = await Profile.create(name="no-dashboards", permissions=["segment.read"])
    await bare.save()
    variables = {"id": gid("Database", shop.database_id)}
    denied = await gql.execute(DATABASE, variables, token=accounts.token_for(bare))
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert denied["data"] == {"databaseDashboard": None}
    bad = await gql.execute(
        DATABASE, variables | {"options": {"topN": 0}}, token=accounts.token["USER"]
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "topN" in bad["errors"][0]["message"]


async def test_charting_a_personal_field_needs_personal_data_read(gql, accounts, redis):
    shop = await build_shop(accounts)
    variables = {"id": gid("Database", shop.database_id), "options": {"fieldKeys": ["email"]}}
    user = await gql.execute(DATABASE, variables, token=accounts.token["USER"])
    assert user["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    power = await gql.execute(DATABASE, variables, token=accounts.token["POWERUSER"])
    assert "errors" not in power, power
    assert "c1@shop.example" in points(power["data"]["databaseDashboard"], "field:email")


async def test_svg_links_of_all_panels_read_the_token_version_once(gql, accounts, redis):
    from tests.schema.statement_counter import count_statements

    shop = await build_shop(accounts)
    query = "query($id: ID!) { databaseDashboard(databaseId: $id) { panels { svgUrl } } }"
    with count_statements() as counter:
        result = await gql.execute(
            query, {"id": gid("Database", shop.database_id)}, token=accounts.token["USER"]
        )
    assert len(result["data"]["databaseDashboard"]["panels"]) > 5
    assert len(counter.matching("token_version FROM app_user WHERE id = ANY")) == 1
