"""Password hashing (argon2) and the password policy."""

from __future__ import annotations

import asyncio
import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from permissions.errors import InputError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256  # bounds the hashing work one request can ask for
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@+-]{1,150}$")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown, so both paths do the same work."""
    return _hasher.hash("contactplan-dummy-password")


async def hash_password(password: str) -> str:
    """Hash a password (argon2id) off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; with no hash, does the same work and returns False."""
    target = password_hash or _dummy_hash()
    try:
        ok = await asyncio.to_thread(_hasher.verify, target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return bool(ok) and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


def password_problems(password: str, path: tuple[str, ...] = ("password",)) -> list[InputError]:
    """What is wrong with a new password, if anything."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [
            InputError(
                path,
                f"Password must have at least {MIN_PASSWORD_LENGTH} characters.",
                "PASSWORD_TOO_SHORT",
            )
        ]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [
            InputError(
                path,
                f"Password must have at most {MAX_PASSWORD_LENGTH} characters.",
                "PASSWORD_TOO_LONG",
            )
        ]
    return []


def username_problems(username: str, path: tuple[str, ...] = ("username",)) -> list[InputError]:
    """What is wrong with a new username, if anything."""
    if not USERNAME_RE.match(username):
        return [
            InputError(
                path,
                "Username must be 1-150 characters: letters, digits and _ . @ + -",
                "INVALID_USERNAME",
            )
        ]
    return []
