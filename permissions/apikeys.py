"""API keys for machines: `cpk_<prefix>_<secret>`, shown once, stored as a sha256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "cpk_"


@dataclass(frozen=True)
class NewApiKey:
    """A freshly generated key: `secret` is the full key, to be shown once."""

    prefix: str
    secret: str
    key_hash: str


def _hash(secret_part: str) -> str:
    return hashlib.sha256(secret_part.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    """A new random key; only its hash is stored."""
    prefix = secrets.token_hex(6)
    secret_part = secrets.token_urlsafe(32)
    return NewApiKey(prefix, f"{KEY_PREFIX}{prefix}_{secret_part}", _hash(secret_part))


def split_api_key(key: str) -> tuple[str, str] | None:
    """(prefix, secret part) of a well-formed key, else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret_part = key[len(KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret_part or len(secret_part) > 128:
        return None
    return prefix, secret_part


def key_matches(secret_part: str, key_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(_hash(secret_part), key_hash)
