"""Bearer tokens, API key format and password hashing."""

from __future__ import annotations

import pytest

from permissions.apikeys import generate_api_key, key_matches, split_api_key
from permissions.passwords import hash_password, password_problems, verify_password
from permissions.tokens import TokenError, issue_token, read_token

SECRET = "s3cret"


def test_token_round_trip() -> None:
    token, expires = issue_token(SECRET, 7, 3, 60, now=1000.0)
    claims = read_token(SECRET, token, now=1059.0)
    assert (claims.user_id, claims.token_version, claims.expires_at) == (7, 3, expires)
    assert expires == 1060.0


@pytest.mark.parametrize("now, message", [(1060.0, "Token expired."), (5000.0, "Token expired.")])
def test_token_expires(now: float, message: str) -> None:
    token, _ = issue_token(SECRET, 7, 3, 60, now=1000.0)
    with pytest.raises(TokenError, match=message):
        read_token(SECRET, token, now=now)


def test_token_with_other_key_or_tampered_payload_is_invalid() -> None:
    token, _ = issue_token(SECRET, 7, 3, 60)
    with pytest.raises(TokenError, match="Invalid token"):
        read_token("another", token)
    signature = token.rsplit(".", 1)[1]
    forged, _ = issue_token(SECRET, 8, 3, 60)
    with pytest.raises(TokenError, match="Invalid token"):
        read_token(SECRET, forged.rsplit(".", 1)[0] + "." + signature)
    with pytest.raises(TokenError, match="Malformed"):
        read_token(SECRET, "no-prefix")


def test_api_key_format_and_matching() -> None:
    key = generate_api_key()
    prefix, secret_part = split_api_key(key.secret)
    assert prefix == key.prefix and len(prefix) == 12
    assert key_matches(secret_part, key.key_hash)
    assert not key_matches(secret_part + "x", key.key_hash)
    assert generate_api_key().secret != key.secret
    for bad in ("cpk_short_x", "cpk_", "xyz_123456789012_abc", f"cpk_{prefix}", ""):
        assert split_api_key(bad) is None, bad


async def test_password_hashing() -> None:
    hashed = await hash_password("a-long-password")
    assert hashed.startswith("$argon2id$")
    assert await verify_password(hashed, "a-long-password")
    assert not await verify_password(hashed, "another-password")
    assert not await verify_password(None, "a-long-password")  # dummy work, always False
    assert not await verify_password("not-a-hash", "a-long-password")


def test_password_policy() -> None:
    assert password_problems("x" * 10) == []
    assert password_problems("x" * 9)[0].code == "PASSWORD_TOO_SHORT"
    assert password_problems("x" * 257)[0].code == "PASSWORD_TOO_LONG"
