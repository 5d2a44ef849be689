"""Settings.from_env: every environment variable, its default, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from contactplan.settings import Settings, SettingsError

EVERY_VARIABLE = {
    "DATABASE_URL": ("postgres://u:p@db:5432/cp", "database_url", "postgres://u:p@db:5432/cp"),
    "REDIS_URL": ("redis://cache:6379/2", "redis_url", "redis://cache:6379/2"),
    "SECRET_KEY": ("s3cret", "secret_key", "s3cret"),
    "DATA_DIR": ("/var/lib/contactplan", "data_dir", Path("/var/lib/contactplan")),
    "DELIVERY_URL": ("http://send:8025", "delivery_url", "http://send:8025"),
    "DELIVERY_TOKEN": ("tok", "delivery_token", "tok"),
    "LOG_LEVEL": ("debug", "log_level", "DEBUG"),
    "HOST": ("0.0.0.0", "host", "0.0.0.0"),
    "PORT": ("9000", "port", 9000),
    "TOKEN_TTL_SECONDS": ("60", "token_ttl_seconds", 60),
    "INTROSPECTION": ("false", "introspection", False),
    "MAX_BODY_BYTES": ("2048", "max_body_bytes", 2048),
    "MAX_QUERY_DEPTH": ("7", "max_query_depth", 7),
    "MAX_ALIASES": ("3", "max_aliases", 3),
    "MAX_TOKENS": ("500", "max_tokens", 500),
    "SEGMENT_MAX_DEPTH": ("4", "max_tree_depth", 4),
    "SEGMENT_MAX_NODES": ("50", "max_tree_nodes", 50),
    "LOGIN_MAX_FAILURES": ("9", "login_max_failures", 9),
    "LOGIN_LOCK_SECONDS": ("30", "login_lock_seconds", 30),
    "MAX_QUERY_COST": ("900", "max_query_cost", 900),
    "DELIVERY_TIMEOUT_SECONDS": ("3", "delivery_timeout_seconds", 3),
    "DELIVERY_WEBHOOK_SECRET": ("hook", "delivery_webhook_secret", "hook"),
}


def test_defaults_when_nothing_is_set():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.database_url is None and settings.redis_url is None
    assert settings.data_dir == Path("./data")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.introspection is True


@pytest.mark.parametrize("variable", sorted(EVERY_VARIABLE))
def test_each_variable_sets_its_field(variable):
    raw, field_name, expected = EVERY_VARIABLE[variable]
    settings = Settings.from_env({variable: raw})
    assert getattr(settings, field_name) == expected
    others = {name for name in Settings.__dataclass_fields__ if name != field_name}
    for name in others:
        assert getattr(settings, name) == getattr(Settings(), name), name


def test_every_settings_field_has_a_variable():
    covered = {field_name for _raw, field_name, _expected in EVERY_VARIABLE.values()}
    assert covered == set(Settings.__dataclass_fields__)


def test_empty_values_keep_defaults():
    settings = Settings.from_env({name: "" for name in EVERY_VARIABLE})
    assert settings == Settings()


@pytest.mark.parametrize("raw", ["1", "true", "YES", "on"])
def test_true_spellings(raw):
    assert Settings.from_env({"INTROSPECTION": raw}).introspection is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off"])
def test_false_spellings(raw):
    assert Settings.from_env({"INTROSPECTION": raw}).introspection is False


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("PORT", "eighty", "PORT must be a whole number, got 'eighty'"),
        ("MAX_TOKENS", "1.5", "MAX_TOKENS must be a whole number"),
        ("TOKEN_TTL_SECONDS", "-1", "TOKEN_TTL_SECONDS must not be negative"),
        ("INTROSPECTION", "maybe", "INTROSPECTION must be true or false, got 'maybe'"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_bad_values_name_the_variable(variable, raw, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: raw})
    assert message in str(error.value)


def test_with_urls_resolves_both_services():
    settings = Settings.from_env({"PORT": "9001"}).with_urls(
        "postgres://x/db", "unix:///tmp/r.sock"
    )
    assert (settings.database_url, settings.redis_url, settings.port) == (
        "postgres://x/db",
        "unix:///tmp/r.sock",
        9001,
    )
