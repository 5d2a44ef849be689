"""Logging in, tokens, throttling, logout, password changes and API keys, over HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from contactplan.app import create_app
from models import ApiKey, AuditEntry, LoginThrottle, Profile, User
from permissions.apikeys import generate_api_key
from permissions.auth import INVALID_CREDENTIALS, TOO_MANY_ATTEMPTS
from permissions.throttle import throttle_key
from permissions.tokens import issue_token
from schema.relay import global_id
from tests.conftest import TEST_PASSWORD, TEST_SECRET_KEY, make_gql

ME = "{ me { name kind } }"


def codes(result: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]


async def test_login_returns_a_working_token(gql, accounts) -> None:
    payload = await gql.login("user")
    assert payload["userErrors"] == []
    assert payload["token"].startswith("cpt_")
    expires = datetime.fromisoformat(payload["expiresAt"])
    assert expires > datetime.now(UTC) + timedelta(hours=11)
    result = await gql.execute(ME, token=payload["token"])
    assert result["data"]["me"] == {"name": "user", "kind": "USER"}
    user = await User.get(username="user")
    assert user.last_login_at is not None
    assert await AuditEntry.filter(action="login", object_id=str(user.id)).count() == 1


async def test_wrong_password_and_unknown_user_get_the_same_answer(gql, accounts) -> None:
    wrong = await gql.login("user", "not-the-password")
    unknown = await gql.login("no-such-user", "not-the-password")
    assert wrong == unknown
    assert wrong["token"] is None
    assert wrong["userErrors"] == [
        {"path": [], "message": INVALID_CREDENTIALS, "code": "INVALID_CREDENTIALS"}
    ]


async def test_deactivated_user_cannot_log_in_and_is_not_told_why(gql, accounts) -> None:
    await User.filter(username="user").update(is_active=False)
    payload = await gql.login("user")
    assert payload["userErrors"][0]["message"] == INVALID_CREDENTIALS


async def test_login_is_throttled_after_failures(gql, accounts) -> None:
    # app_settings: login_max_failures=3
    for _ in range(3):
        assert (await gql.login("user", "bad-guess"))["userErrors"][0]["code"] == (
            "INVALID_CREDENTIALS"
        )
    locked = await gql.login("user")  # even the right password is refused while locked
    assert locked["token"] is None
    assert locked["userErrors"][0] == {
        "path": [],
        "message": TOO_MANY_ATTEMPTS,
        "code": "TOO_MANY_ATTEMPTS",
    }


async def test_unknown_usernames_are_throttled_the_same_way(gql, accounts) -> None:
    known = [await gql.login("user", "bad-guess") for _ in range(4)]
    unknown = [await gql.login("ghost", "bad-guess") for _ in range(4)]
    assert known == unknown
    assert known[-1]["userErrors"][0]["code"] == "TOO_MANY_ATTEMPTS"


async def test_throttle_is_per_username_and_case_insensitive(gql, accounts) -> None:
    for _ in range(3):
        await gql.login("USER", "bad-guess")
    assert (await gql.login("user"))["userErrors"][0]["code"] == "TOO_MANY_ATTEMPTS"
    assert (await gql.login("guest"))["userErrors"] == []


async def test_lock_expires_and_success_clears_failures(gql, accounts) -> None:
    for _ in range(3):
        await gql.login("user", "bad-guess")
    past = datetime.now(UTC) - timedelta(seconds=1)
    await LoginThrottle.filter(key=throttle_key("user")).update(locked_until=past)
    assert (await gql.login("user"))["userErrors"] == []
    assert not await LoginThrottle.filter(key=throttle_key("user")).exists()


async def test_no_credentials_is_unauthenticated(gql, accounts) -> None:
    result = await gql.execute(ME)
    assert codes(result) == ["UNAUTHENTICATED"]
    assert result["errors"][0]["message"] == "Authentication required."


async def test_garbage_token_is_unauthenticated(gql, accounts) -> None:
    result = await gql.execute(ME, token="cpt_garbage")
    assert codes(result) == ["UNAUTHENTICATED"]
    assert result["errors"][0]["message"] == "Invalid token."


async def test_token_signed_with_another_key_is_refused(gql, accounts) -> None:
    user = accounts.users["ADMIN"]
    forged, _ = issue_token("some-other-secret", user.id, user.token_version, 3600)
    result = await gql.execute(ME, token=forged)
    assert codes(result) == ["UNAUTHENTICATED"]


async def test_malformed_authorization_header_is_unauthenticated(gql, accounts) -> None:
    response = await gql.http.post(
        "/graphql", json={"query": ME}, headers={"Authorization": "Basic dXNlcjpwdw=="}
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Bearer" in error["message"]


async def test_bad_token_does_not_block_login(gql, accounts) -> None:
    result = await gql.execute(
        'mutation($p: String!) { login(username: "user", password: $p) { token } }',
        {"p": TEST_PASSWORD},
        token="cpt_expired-or-garbage",
    )
    assert result["data"]["login"]["token"]


async def test_expired_token_is_refused(db, app_settings, accounts) -> None:
    short = replace(app_settings, token_ttl_seconds=1)
    client = make_gql(create_app(short, manage_orm=False))
    async with client.http:
        token = (await client.login("user"))["token"]
        assert (await client.execute(ME, token=token))["data"]["me"]["name"] == "user"
        await asyncio.sleep(1.2)
        result = await client.execute(ME, token=token)
    assert codes(result) == ["UNAUTHENTICATED"]
    assert result["errors"][0]["message"] == "Token expired."


async def test_token_stops_working_after_logout(gql, accounts) -> None:
    token = accounts.token["USER"]
    other_session = (await gql.login("user"))["token"]
    result = await gql.execute("mutation { logout { ok userErrors { code } } }", token=token)
    assert result["data"]["logout"] == {"ok": True, "userErrors": []}
    for old in (token, other_session):
        after = await gql.execute(ME, token=old)
        assert codes(after) == ["UNAUTHENTICATED"]
        assert "log in again" in after["errors"][0]["message"]
    assert (await gql.login("user"))["token"]  # logging in again works
    assert await AuditEntry.filter(action="logout").count() == 1


async def test_change_password_invalidates_old_tokens(gql, accounts) -> None:
    old = accounts.token["USER"]
    result = await gql.execute(
        "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c,"
        " newPassword: $n) { token userErrors { path code } } }",
        {"c": TEST_PASSWORD, "n": "a-brand-new-password"},
        token=old,
    )
    payload = result["data"]["changePassword"]
    assert payload["userErrors"] == []
    assert codes(await gql.execute(ME, token=old)) == ["UNAUTHENTICATED"]
    assert (await gql.execute(ME, token=payload["token"]))["data"]["me"]["name"] == "user"
    assert (await gql.login("user"))["token"] is None
    assert (await gql.login("user", "a-brand-new-password"))["token"]
    entry = await AuditEntry.get(action="set_password")
    assert entry.after == {"password_changed": True}


async def test_change_password_needs_the_current_one(gql, accounts) -> None:
    result = await gql.execute(
        'mutation { changePassword(currentPassword: "wrong-one", newPassword: "whatever-long")'
        " { token userErrors { path code } } }",
        token=accounts.token["USER"],
    )
    assert result["data"]["changePassword"] == {
        "token": None,
        "userErrors": [{"path": ["currentPassword"], "code": "INVALID_PASSWORD"}],
    }
    assert (await gql.execute(ME, token=accounts.token["USER"]))["data"]["me"]


async def test_change_password_enforces_the_policy(gql, accounts) -> None:
    result = await gql.execute(
        'mutation($c: String!) { changePassword(currentPassword: $c, newPassword: "short")'
        " { userErrors { path code } } }",
        {"c": TEST_PASSWORD},
        token=accounts.token["USER"],
    )
    assert result["data"]["changePassword"]["userErrors"] == [
        {"path": ["newPassword"], "code": "PASSWORD_TOO_SHORT"}
    ]


async def test_deactivated_users_token_stops_working(gql, accounts) -> None:
    await User.filter(username="guest").update(is_active=False)
    assert codes(await gql.execute(ME, token=accounts.token["GUEST"])) == ["UNAUTHENTICATED"]


async def _api_key(accounts, profile: str = "USER", databases=None) -> tuple[ApiKey, str]:
    new = generate_api_key()
    key = await ApiKey.create(
        name="etl",
        prefix=new.prefix,
        key_hash=new.key_hash,
        profile=await Profile.get(name=profile),
        created_by=accounts.users["ADMIN"],
    )
    for database in databases or []:
        await key.databases.add(database)
    return key, new.secret


async def test_api_key_authenticates_and_records_last_use(gql, accounts) -> None:
    key, secret = await _api_key(accounts)
    result = await gql.execute("{ me { kind name apiKey { name } user { id } } }", token=secret)
    assert result["data"]["me"] == {
        "kind": "API_KEY",
        "name": "apikey:etl (admin)",
        "apiKey": {"name": "etl"},
        "user": None,
    }
    await key.refresh_from_db()
    assert key.last_used_at is not None


async def test_revoked_api_key_is_refused(gql, accounts) -> None:
    key, secret = await _api_key(accounts)
    key.revoked_at = datetime.now(UTC)
    await key.save()
    result = await gql.execute(ME, token=secret)
    assert codes(result) == ["UNAUTHENTICATED"]
    assert result["errors"][0]["message"] == "API key revoked."


async def test_api_key_with_wrong_secret_is_refused(gql, accounts) -> None:
    _, secret = await _api_key(accounts)
    tampered = secret[:-4] + ("aaaa" if not secret.endswith("aaaa") else "bbbb")
    assert codes(await gql.execute(ME, token=tampered)) == ["UNAUTHENTICATED"]
    assert codes(await gql.execute(ME, token="cpk_nonsense")) == ["UNAUTHENTICATED"]


async def test_api_key_of_deactivated_creator_is_refused(gql, accounts) -> None:
    _, secret = await _api_key(accounts)
    await User.filter(id=accounts.users["ADMIN"].id).update(is_active=False)
    assert codes(await gql.execute(ME, token=secret)) == ["UNAUTHENTICATED"]


async def test_api_key_cannot_log_out(gql, accounts) -> None:
    _, secret = await _api_key(accounts)
    result = await gql.execute("mutation { logout { ok userErrors { code } } }", token=secret)
    assert result["data"]["logout"] == {"ok": False, "userErrors": [{"code": "NOT_A_USER"}]}
    assert (await gql.execute(ME, token=secret))["data"]["me"]


async def test_secrets_never_reach_the_logs(gql, accounts, caplog) -> None:
    with caplog.at_level("DEBUG"):
        await gql.login("user", "a-secret-guess-123")
        await gql.login("user")
        _, secret = await _api_key(accounts)
        await gql.execute(ME, token=secret)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "a-secret-guess-123" not in text
    assert TEST_PASSWORD not in text
    assert secret not in text
    assert TEST_SECRET_KEY not in text


async def test_api_key_last_use_is_written_at_most_once_a_minute(gql, accounts) -> None:
    key, secret = await _api_key(accounts)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    await ApiKey.filter(id=key.id).update(last_used_at=long_ago)
    await gql.execute(ME, token=secret)
    await key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use > long_ago
    await gql.execute(ME, token=secret)
    await key.refresh_from_db()
    assert key.last_used_at == first_use


async def test_reactivation_does_not_revive_old_tokens(gql, accounts) -> None:
    guest = accounts.users["GUEST"]
    deactivate = "mutation($id: ID!, $on: Boolean!) { updateUser(id: $id, input: {isActive: $on})"
    deactivate += " { user { isActive } } }"
    for active in (False, True):
        result = await gql.execute(
            deactivate,
            {"id": str(global_id("User", guest.id)), "on": active},
            token=accounts.token["ADMIN"],
        )
        assert result["data"]["updateUser"]["user"]["isActive"] is active
    assert codes(await gql.execute(ME, token=accounts.token["GUEST"])) == ["UNAUTHENTICATED"]
    assert (await gql.login("guest"))["token"]


async def test_oversized_username_is_refused_like_a_wrong_one(gql, accounts) -> None:
    payload = await gql.login("y" * 1000)
    assert payload["token"] is None
    assert payload["userErrors"] == [
        {"path": [], "message": INVALID_CREDENTIALS, "code": "INVALID_CREDENTIALS"}
    ]
