"""DND policies through GraphQL over HTTP: admin-only changes, scopes, defaults, versions."""

from __future__ import annotations

from models import AuditEntry, DndPolicy
from tests.schema.plans_support import create_plan, gid, make_segment

CREATE = (
    "mutation($input: CreateDndPolicyInput!) { createDndPolicy(input: $input) {"
    " dndPolicy { id name isDefault isGlobal version editable rules { max period }"
    " database { name } } userErrors { path message code } } }"
)
UPDATE = (
    "mutation($input: UpdateDndPolicyInput!) { updateDndPolicy(input: $input) {"
    " dndPolicy { id name isDefault version } userErrors { path code } } }"
)
LIST = (
    "query($db: ID, $g: Boolean!) { dndPolicies(databaseId: $db, includeGlobal: $g) {"
    " name isDefault isGlobal } }"
)


async def _create(gql, token, **fields):
    result = await gql.execute(CREATE, {"input": fields}, token=token)
    return result


async def test_admin_creates_policies_per_database_and_global_with_one_default(gql, accounts):
    admin = accounts.token["ADMIN"]
    main = gid("Database", accounts.database.id)
    first = await _create(
        gql, admin, databaseId=main, name="Main weekly", isDefault=True,
        rules=[{"max": 2, "period": "WEEK"}, {"max": 5, "period": "MONTH"}],
    )  # fmt: skip
    policy = first["data"]["createDndPolicy"]["dndPolicy"]
    assert policy["rules"] == [{"max": 2, "period": "WEEK"}, {"max": 5, "period": "MONTH"}]
    assert policy["database"] == {"name": "Main"} and policy["isGlobal"] is False
    assert policy["editable"] is True and policy["version"] == 1
    second = await _create(
        gql, admin, databaseId=main, name="Main daily", isDefault=True,
        rules=[{"max": 1, "period": "DAY"}],
    )  # fmt: skip
    assert second["data"]["createDndPolicy"]["userErrors"] == []
    await _create(gql, admin, name="Everywhere", rules=[{"max": 10, "period": "YEAR"}])
    await _create(
        gql, admin, databaseId=gid("Database", accounts.other_database.id), name="Other",
        rules=[{"max": 1, "period": "WEEK"}],
    )  # fmt: skip

    listed = await gql.execute(LIST, {"db": main, "g": True}, token=accounts.token["GUEST"])
    assert listed["data"]["dndPolicies"] == [
        {"name": "Main daily", "isDefault": True, "isGlobal": False},  # the newer default won
        {"name": "Main weekly", "isDefault": False, "isGlobal": False},
        {"name": "Everywhere", "isDefault": False, "isGlobal": True},
    ]
    mine = await gql.execute(LIST, {"db": None, "g": False}, token=accounts.token["USER"])
    assert [p["name"] for p in mine["data"]["dndPolicies"]] == ["Main daily", "Main weekly"]
    assert await AuditEntry.filter(object_type="dnd_policy", action="create").count() == 4


async def test_only_dnd_manage_may_change_policies(gql, accounts):
    main = gid("Database", accounts.database.id)
    for profile in ("POWERUSER", "USER", "GUEST"):
        result = await _create(
            gql, accounts.token[profile], databaseId=main, name="x",
            rules=[{"max": 1, "period": "DAY"}],
        )  # fmt: skip
        assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN", profile
    created = await _create(
        gql, accounts.token["ADMIN"], databaseId=main, name="p", rules=[{"max": 1, "period": "DAY"}]
    )
    policy = created["data"]["createDndPolicy"]["dndPolicy"]
    read = await gql.execute(
        "query($id: ID!) { dndPolicy(id: $id) { name editable } }",
        {"id": policy["id"]},
        token=accounts.token["USER"],
    )
    assert read["data"]["dndPolicy"] == {"name": "p", "editable": False}
    assert await DndPolicy.all().count() == 1


async def test_rules_mistakes_are_user_errors_with_paths(gql, accounts):
    result = await _create(
        gql, accounts.token["ADMIN"], name="", rules=[{"max": 0, "period": "DAY"}]
    )
    errors = result["data"]["createDndPolicy"]["userErrors"]
    assert [(e["path"], e["code"]) for e in errors] == [
        (["name"], "INVALID"),
        (["rules", "0", "max"], "INVALID"),
    ]
    assert await DndPolicy.all().count() == 0


async def test_policy_of_another_database_is_not_found(gql, accounts):
    admin = accounts.token["ADMIN"]
    created = await _create(
        gql, admin, databaseId=gid("Database", accounts.other_database.id), name="Other",
        rules=[{"max": 1, "period": "WEEK"}],
    )  # fmt: skip
    policy_id = created["data"]["createDndPolicy"]["dndPolicy"]["id"]
    for query in (
        "query($id: ID!) { dndPolicy(id: $id) { name } }",
        "query($id: ID!) { node(id: $id) { id } }",
    ):
        result = await gql.execute(query, {"id": policy_id}, token=accounts.token["USER"])
        assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    listed = await gql.execute(
        LIST, {"db": gid("Database", accounts.other_database.id), "g": True},
        token=accounts.token["USER"],
    )  # fmt: skip
    assert listed["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_update_with_stale_version_conflicts_and_delete_falls_back(gql, accounts):
    admin = accounts.token["ADMIN"]
    main = gid("Database", accounts.database.id)
    created = await _create(gql, admin, databaseId=main, name="p",
                            rules=[{"max": 1, "period": "DAY"}])  # fmt: skip
    policy_id = created["data"]["createDndPolicy"]["dndPolicy"]["id"]
    ok = await gql.execute(
        UPDATE, {"input": {"id": policy_id, "version": 1, "name": "q", "isDefault": True}},
        token=admin,
    )  # fmt: skip
    assert ok["data"]["updateDndPolicy"] == {
        "dndPolicy": {"id": policy_id, "name": "q", "isDefault": True, "version": 2},
        "userErrors": [],
    }
    stale = await gql.execute(
        UPDATE, {"input": {"id": policy_id, "version": 1, "name": "r"}}, token=admin
    )
    assert stale["data"]["updateDndPolicy"] == {
        "dndPolicy": {"id": policy_id, "name": "q", "isDefault": True, "version": 2},
        "userErrors": [{"path": ["version"], "code": "CONFLICT"}],
    }
    segment = await make_segment(accounts.database, accounts.users["USER"])
    plan = await create_plan(
        gql, accounts.token["USER"], accounts.database, segment, dndPolicyId=policy_id
    )
    assert plan["userErrors"] == []
    deleted = await gql.execute(
        "mutation($id: ID!) { deleteDndPolicy(id: $id) { deletedId userErrors { code } } }",
        {"id": policy_id},
        token=admin,
    )
    assert deleted["data"]["deleteDndPolicy"] == {"deletedId": policy_id, "userErrors": []}
    read = await gql.execute(
        "query($id: ID!) { plan(id: $id) { dndPolicy { name } } }",
        {"id": plan["plan"]["id"]},
        token=accounts.token["USER"],
    )
    assert read["data"]["plan"]["dndPolicy"] is None  # the default policy applies again


async def test_global_policies_need_access_to_every_database(gql, accounts):
    from models import Profile

    await Profile.create(name="DND officer", permissions=["dnd.read", "dnd.manage"])
    officer = await accounts.make_user("officer", "DND officer", [accounts.database])
    token = accounts.token_for(officer)
    rules = [{"max": 3, "period": "WEEK"}]
    refused = await _create(gql, token, name="Everywhere", rules=rules)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    own = await _create(
        gql, token, databaseId=gid("Database", accounts.database.id), name="Main", rules=rules
    )
    assert own["data"]["createDndPolicy"]["dndPolicy"]["editable"] is True
    shared = await _create(gql, accounts.token["ADMIN"], name="Everywhere", rules=rules)
    shared_id = shared["data"]["createDndPolicy"]["dndPolicy"]["id"]
    read = await gql.execute(
        "query($id: ID!) { dndPolicy(id: $id) { isGlobal editable } }", {"id": shared_id},
        token=token,
    )  # fmt: skip
    assert read["data"]["dndPolicy"] == {"isGlobal": True, "editable": False}
    changed = await gql.execute(
        UPDATE, {"input": {"id": shared_id, "version": 1, "name": "Mine"}}, token=token
    )
    assert changed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await DndPolicy.filter(name="Everywhere").count() == 1
