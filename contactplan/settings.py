"""One typed settings object, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATA_DIR = "./data"
DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105 - documented dev default


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Every field has a documented environment variable."""

    database_url: str | None = None  # DATABASE_URL; unset -> embedded PostgreSQL
    redis_url: str | None = None  # REDIS_URL; unset -> embedded Redis
    secret_key: str = DEFAULT_SECRET_KEY  # SECRET_KEY; signs bearer tokens
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))  # DATA_DIR
    delivery_url: str | None = None  # DELIVERY_URL; unset -> `serve` starts the dev send-sink
    delivery_token: str = ""  # DELIVERY_TOKEN
    delivery_timeout_seconds: int = 10  # DELIVERY_TIMEOUT_SECONDS; per platform call
    delivery_webhook_secret: str = ""  # DELIVERY_WEBHOOK_SECRET; signs feedback, empty: refused
    log_level: str = "INFO"  # LOG_LEVEL
    host: str = "127.0.0.1"  # HOST
    port: int = 8000  # PORT
    token_ttl_seconds: int = 12 * 3600  # TOKEN_TTL_SECONDS
    introspection: bool = True  # INTROSPECTION
    max_body_bytes: int = 1_000_000  # MAX_BODY_BYTES
    max_query_depth: int = 12  # MAX_QUERY_DEPTH
    max_aliases: int = 30  # MAX_ALIASES
    max_tokens: int = 2_000  # MAX_TOKENS
    max_query_cost: int = 50_000  # MAX_QUERY_COST; estimated cost (schema/cost.py), 0: no limit
    max_tree_depth: int = 12  # SEGMENT_MAX_DEPTH
    max_tree_nodes: int = 200  # SEGMENT_MAX_NODES
    login_max_failures: int = 5  # LOGIN_MAX_FAILURES
    login_lock_seconds: int = 300  # LOGIN_LOCK_SECONDS

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from environment variables (unset ones keep their defaults)."""
        env = os.environ if environ is None else environ
        d = cls()

        def get(name: str, default):
            value = env.get(name)
            return default if value in (None, "") else value

        def number(name: str, default: int) -> int:
            return _as_int(name, get(name, default))

        return cls(
            database_url=get("DATABASE_URL", None),
            redis_url=get("REDIS_URL", None),
            secret_key=get("SECRET_KEY", d.secret_key),
            data_dir=Path(get("DATA_DIR", DEFAULT_DATA_DIR)),
            delivery_url=get("DELIVERY_URL", None),
            delivery_token=get("DELIVERY_TOKEN", d.delivery_token),
            delivery_timeout_seconds=number("DELIVERY_TIMEOUT_SECONDS", d.delivery_timeout_seconds),
            delivery_webhook_secret=get("DELIVERY_WEBHOOK_SECRET", d.delivery_webhook_secret),
            log_level=_as_log_level(get("LOG_LEVEL", d.log_level)),
            host=get("HOST", d.host),
            port=number("PORT", d.port),
            token_ttl_seconds=number("TOKEN_TTL_SECONDS", d.token_ttl_seconds),
            introspection=_as_bool("INTROSPECTION", get("INTROSPECTION", "true")),
            max_body_bytes=number("MAX_BODY_BYTES", d.max_body_bytes),
            max_query_depth=number("MAX_QUERY_DEPTH", d.max_query_depth),
            max_aliases=number("MAX_ALIASES", d.max_aliases),
            max_tokens=number("MAX_TOKENS", d.max_tokens),
            max_query_cost=number("MAX_QUERY_COST", d.max_query_cost),
            max_tree_depth=number("SEGMENT_MAX_DEPTH", d.max_tree_depth),
            max_tree_nodes=number("SEGMENT_MAX_NODES", d.max_tree_nodes),
            login_max_failures=number("LOGIN_MAX_FAILURES", d.login_max_failures),
            login_lock_seconds=number("LOGIN_LOCK_SECONDS", d.login_lock_seconds),
        )

    def with_urls(self, database_url: str, redis_url: str) -> Settings:
        """A copy with resolved service URLs (after embedded services started)."""
        return replace(self, database_url=database_url, redis_url=redis_url)


class SettingsError(ValueError):
    """An environment variable has a value contactplan cannot use."""


def _as_int(name: str, value: object) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
    if number < 0:
        raise SettingsError(f"{name} must not be negative, got {value!r}")
    return number


def _as_bool(name: str, value: str) -> bool:
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _as_log_level(value: str) -> str:
    level = str(value).strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level
