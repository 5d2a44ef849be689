"""User administration over GraphQL: results, input mistakes, escalation guards, audit."""

from __future__ import annotations

from models import AuditEntry, Profile, Segment, User
from schema.relay import global_id
from tests.conftest import TEST_PASSWORD

CREATE = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) {
    user { id username displayName email isActive profile { name } databases { name } }
    userErrors { path message code }
  }
}"""
UPDATE = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) {
    user { id displayName email isActive profile { name } }
    userErrors { path code }
  }
}"""


def codes(result: dict) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


def gid(type_name: str, pk: int) -> str:
    return str(global_id(type_name, pk))


def usernames(result: dict) -> list[str]:
    return [edge["node"]["username"] for edge in result["data"]["users"]["edges"]]


async def test_admin_creates_a_user_who_can_log_in(gql, accounts) -> None:
    result = await gql.execute(
        CREATE,
        {
            "input": {
                "username": "marta",
                "password": "a-good-long-password",
                "profile": "POWERUSER",
                "databaseIds": [gid("Database", accounts.database.id)],
                "displayName": "Marta R.",
                "email": "marta@example.com",
            }
        },
        token=accounts.token["ADMIN"],
    )
    payload = result["data"]["createUser"]
    assert payload["userErrors"] == []
    assert payload["user"]["username"] == "marta"
    assert payload["user"]["profile"] == {"name": "POWERUSER"}
    assert payload["user"]["databases"] == [{"name": "Main"}]
    assert (await gql.login("marta", "a-good-long-password"))["token"]
    user = await User.get(username="marta")
    assert user.password_hash.startswith("$argon2")
    entry = await AuditEntry.get(action="create", object_type="user", object_id=str(user.id))
    assert entry.actor == "admin"
    assert entry.after["profile"] == "POWERUSER"
    assert "password" not in str(entry.after) and "argon2" not in str(entry.after)


async def test_create_user_reports_every_input_mistake(gql, accounts) -> None:
    result = await gql.execute(
        CREATE,
        {"input": {"username": "user", "password": "short", "profile": "NOPE"}},
        token=accounts.token["ADMIN"],
    )
    payload = result["data"]["createUser"]
    assert payload["user"] is None
    got = {(tuple(e["path"]), e["code"]) for e in payload["userErrors"]}
    assert got == {
        (("password",), "PASSWORD_TOO_SHORT"),
        (("profile",), "NOT_FOUND"),
        (("username",), "DUPLICATE"),
    }
    assert await AuditEntry.filter(object_type="user").count() == 0


async def test_bad_username_is_an_input_mistake(gql, accounts) -> None:
    result = await gql.execute(
        CREATE,
        {"input": {"username": "no spaces please", "password": "long-enough-pw"}},
        token=accounts.token["ADMIN"],
    )
    assert result["data"]["createUser"]["userErrors"][0]["code"] == "INVALID_USERNAME"


async def test_granting_an_unknown_database_is_not_found(gql, accounts) -> None:
    result = await gql.execute(
        CREATE,
        {
            "input": {
                "username": "x1",
                "password": "long-enough-pw",
                "databaseIds": [gid("Database", 999999)],
            }
        },
        token=accounts.token["ADMIN"],
    )
    assert codes(result) == ["NOT_FOUND"]
    assert not await User.filter(username="x1").exists()


async def test_update_user_changes_details_and_profile(gql, accounts) -> None:
    guest = accounts.users["GUEST"]
    result = await gql.execute(
        UPDATE,
        {
            "id": gid("User", guest.id),
            "input": {"displayName": "Gus", "email": "", "profile": "USER"},
        },
        token=accounts.token["ADMIN"],
    )
    payload = result["data"]["updateUser"]
    assert payload["userErrors"] == []
    assert payload["user"]["displayName"] == "Gus"
    assert payload["user"]["profile"] == {"name": "USER"}
    entry = await AuditEntry.get(action="update", object_id=str(guest.id))
    assert entry.before["profile"] == "GUEST" and entry.after["profile"] == "USER"
    # a profile change ends the sessions issued under the old profile
    assert codes(await gql.execute("{ me { name } }", token=accounts.token["GUEST"])) == [
        "UNAUTHENTICATED"
    ]


async def test_update_without_changes_writes_no_audit(gql, accounts) -> None:
    guest = accounts.users["GUEST"]
    await gql.execute(
        UPDATE, {"id": gid("User", guest.id), "input": {}}, token=accounts.token["ADMIN"]
    )
    assert await AuditEntry.filter(object_type="user").count() == 0


async def test_admin_cannot_deactivate_or_demote_themself(gql, accounts) -> None:
    admin = accounts.users["ADMIN"]
    result = await gql.execute(
        UPDATE,
        {"id": gid("User", admin.id), "input": {"isActive": False, "profile": "GUEST"}},
        token=accounts.token["ADMIN"],
    )
    assert {e["path"][0] for e in result["data"]["updateUser"]["userErrors"]} == {
        "isActive",
        "profile",
    }
    await admin.refresh_from_db()
    assert admin.is_active


async def test_deactivate_user_ends_sessions_and_is_audited(gql, accounts) -> None:
    user = accounts.users["USER"]
    result = await gql.execute(
        "mutation($id: ID!) { deactivateUser(id: $id) { user { isActive } userErrors { code } } }",
        {"id": gid("User", user.id)},
        token=accounts.token["ADMIN"],
    )
    assert result["data"]["deactivateUser"] == {"user": {"isActive": False}, "userErrors": []}
    assert codes(await gql.execute("{ me { name } }", token=accounts.token["USER"])) == [
        "UNAUTHENTICATED"
    ]
    assert (await gql.login("user"))["token"] is None
    assert await AuditEntry.filter(action="deactivate", object_id=str(user.id)).count() == 1
    # listing hides inactive users unless asked
    names = await gql.execute(
        "{ users { edges { node { username } } } }", token=accounts.token["ADMIN"]
    )
    assert "user" not in usernames(names)
    everyone = await gql.execute(
        "{ users(includeInactive: true) { edges { node { username } } } }",
        token=accounts.token["ADMIN"],
    )
    assert "user" in usernames(everyone)


async def test_set_user_password(gql, accounts) -> None:
    user = accounts.users["USER"]
    result = await gql.execute(
        'mutation($id: ID!) { setUserPassword(id: $id, password: "reset-password-1")'
        " { userErrors { code } } }",
        {"id": gid("User", user.id)},
        token=accounts.token["ADMIN"],
    )
    assert result["data"]["setUserPassword"]["userErrors"] == []
    assert (await gql.login("user", TEST_PASSWORD))["token"] is None
    assert (await gql.login("user", "reset-password-1"))["token"]
    assert codes(await gql.execute("{ me { name } }", token=accounts.token["USER"])) == [
        "UNAUTHENTICATED"
    ]
    assert await AuditEntry.filter(action="set_password", object_id=str(user.id)).count() == 1


async def test_grant_and_revoke_databases(gql, accounts) -> None:
    user = accounts.users["USER"]
    grant = """mutation($id: ID!, $db: [ID!]!) { grantDatabases(userId: $id, databaseIds: $db)
      { user { databases { name } } userErrors { code } } }"""
    revoke = grant.replace("grantDatabases", "revokeDatabases")
    variables = {"id": gid("User", user.id), "db": [gid("Database", accounts.other_database.id)]}
    result = await gql.execute(grant, variables, token=accounts.token["ADMIN"])
    assert result["data"]["grantDatabases"]["user"]["databases"] == [
        {"name": "Main"},
        {"name": "Other"},
    ]
    seen = await gql.execute("{ databases { name } }", token=accounts.token["USER"])
    assert [d["name"] for d in seen["data"]["databases"]] == ["Main", "Other"]
    result = await gql.execute(revoke, variables, token=accounts.token["ADMIN"])
    assert result["data"]["revokeDatabases"]["user"]["databases"] == [{"name": "Main"}]
    actions = await AuditEntry.filter(object_type="user", object_id=str(user.id)).values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["grant", "revoke"]


async def test_unknown_user_is_not_found(gql, accounts) -> None:
    for ident in (gid("User", 999999), gid("User", "x"), gid("Profile", accounts.users["USER"].id)):
        result = await gql.execute(
            "query($id: ID!) { user(id: $id) { id } }", {"id": ident}, token=accounts.token["ADMIN"]
        )
        assert codes(result) == ["NOT_FOUND"]


async def _limited_manager(accounts) -> str:
    """A user manager whose custom profile holds only user.manage, granted `database`."""
    await Profile.create(name="Helpdesk", permissions=["user.manage"], builtin=False)
    manager = await accounts.make_user("helpdesk", "Helpdesk", [accounts.database])
    return accounts.token_for(manager)


async def test_manager_cannot_hand_out_permissions_they_lack(gql, accounts) -> None:
    token = await _limited_manager(accounts)
    result = await gql.execute(
        CREATE,
        {"input": {"username": "boss", "password": "long-enough-pw", "profile": "ADMIN"}},
        token=token,
    )
    assert codes(result) == ["FORBIDDEN"]
    assert not await User.filter(username="boss").exists()


async def test_manager_cannot_change_a_more_powerful_user(gql, accounts) -> None:
    token = await _limited_manager(accounts)
    result = await gql.execute(
        "mutation($id: ID!) { deactivateUser(id: $id) { user { id } } }",
        {"id": gid("User", accounts.users["ADMIN"].id)},
        token=token,
    )
    assert codes(result) == ["FORBIDDEN"]
    await accounts.users["ADMIN"].refresh_from_db()
    assert accounts.users["ADMIN"].is_active


async def test_manager_cannot_grant_a_database_they_do_not_see(gql, accounts) -> None:
    token = await _limited_manager(accounts)
    await Profile.create(name="Nothing", permissions=[], builtin=False)
    target = await accounts.make_user("target", "Nothing")
    result = await gql.execute(
        "mutation($id: ID!, $db: ID!) { grantDatabases(userId: $id, databaseIds: [$db])"
        " { user { id } } }",
        {"id": gid("User", target.id), "db": gid("Database", accounts.other_database.id)},
        token=token,
    )
    assert codes(result) == ["NOT_FOUND"]  # not even told the database exists
    assert await target.databases.all().count() == 0


async def test_user_list_shows_only_databases_the_caller_sees(gql, accounts) -> None:
    token = await _limited_manager(accounts)
    await accounts.users["GUEST"].databases.add(accounts.other_database)
    result = await gql.execute(
        'query { users(search: "guest") { edges { node { username databases { name } } } } }',
        token=token,
    )
    assert result["data"]["users"]["edges"] == [
        {"node": {"username": "guest", "databases": [{"name": "Main"}]}}
    ]


async def test_paging_arguments_are_checked(gql, accounts) -> None:
    for first in (0, 501):
        result = await gql.execute(
            "query($n: Int) { users(first: $n) { totalCount } }",
            {"n": first},
            token=accounts.token["ADMIN"],
        )
        assert codes(result) == ["BAD_USER_INPUT"]
    result = await gql.execute(
        '{ users(after: "not-a-cursor") { totalCount } }', token=accounts.token["ADMIN"]
    )
    assert codes(result) == ["BAD_USER_INPUT"]


PAGE = """query($first: Int, $after: String, $search: String) {
  users(first: $first, after: $after, search: $search, includeInactive: true) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id username } }
  }
}"""


async def test_user_connection_pages_over_every_user_once(gql, accounts) -> None:
    for i in range(9):
        await accounts.make_user(f"bulk{i:02d}", "GUEST")
    await User.filter(username="bulk03").update(is_active=False)
    expected = sorted(await User.all().values_list("username", flat=True))
    for size in (1, 4, 50):
        seen: list[str] = []
        after = None
        while True:
            result = await gql.execute(
                PAGE, {"first": size, "after": after}, token=accounts.token["ADMIN"]
            )
            connection = result["data"]["users"]
            assert connection["totalCount"] == len(expected)
            assert connection["pageInfo"]["hasPreviousPage"] == (after is not None)
            seen += [edge["node"]["username"] for edge in connection["edges"]]
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
            assert after == connection["edges"][-1]["cursor"]
        assert seen == expected, size


async def test_user_connection_filters_and_default_page(gql, accounts) -> None:
    for i in range(55):
        await accounts.make_user(f"many{i:02d}", "GUEST")
    result = await gql.execute(PAGE, {}, token=accounts.token["ADMIN"])
    connection = result["data"]["users"]
    assert len(connection["edges"]) == 50  # resolvers.paging.DEFAULT_PAGE
    assert connection["totalCount"] == 59 and connection["pageInfo"]["hasNextPage"]
    found = await gql.execute(PAGE, {"search": "MANY1"}, token=accounts.token["ADMIN"])
    assert found["data"]["users"]["totalCount"] == 10
    node = found["data"]["users"]["edges"][0]["node"]
    assert node["id"] == gid("User", (await User.get(username="many10")).id)


async def test_oversized_names_are_input_mistakes_not_crashes(gql, accounts, caplog) -> None:
    long = "y" * 1000
    result = await gql.execute(
        CREATE,
        {"input": {"username": long, "password": "short", "profile": long}},
        token=accounts.token["ADMIN"],
    )
    assert "errors" not in result, result
    got = {(tuple(e["path"]), e["code"]) for e in result["data"]["createUser"]["userErrors"]}
    assert got == {
        (("username",), "INVALID_USERNAME"),
        (("profile",), "NOT_FOUND"),
        (("password",), "PASSWORD_TOO_SHORT"),
    }
    updated = await gql.execute(
        UPDATE,
        {"id": gid("User", accounts.users["GUEST"].id), "input": {"profile": long}},
        token=accounts.token["ADMIN"],
    )
    assert updated["data"]["updateUser"]["userErrors"] == [
        {"path": ["profile"], "code": "NOT_FOUND"}
    ]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


AUTHOR = """
query($id: ID!) { segment(id: $id) { name author { username email lastLoginAt } } }
"""


async def test_staff_email_shows_only_to_the_user_itself_and_user_managers(gql, accounts) -> None:
    author = accounts.users["USER"]
    await User.filter(id=author.id).update(email="user@example.com")
    await gql.login(author.username)  # sets lastLoginAt
    segment = await Segment.create(
        database=accounts.database,
        name="Women",
        author=author,
        definition={"root": {"event": {"type": "purchase"}}},
    )
    variables = {"id": gid("Segment", segment.id)}

    async def seen_by(profile: str) -> dict:
        result = await gql.execute(AUTHOR, variables, token=accounts.token[profile])
        assert "errors" not in result, result  # hidden, not failing the response
        return result["data"]["segment"]["author"]

    for profile in ("GUEST", "POWERUSER"):
        assert await seen_by(profile) == {"username": "user", "email": None, "lastLoginAt": None}
    for profile in ("USER", "ADMIN"):  # itself; user.manage
        read = await seen_by(profile)
        assert read["email"] == "user@example.com" and read["lastLoginAt"] is not None, profile
    login = await gql.execute(
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
        " { user { email } } }",
        {"u": author.username, "p": TEST_PASSWORD},
    )
    assert login["data"]["login"]["user"] == {"email": "user@example.com"}
