"""The `contactplan` command: help, exit codes, migrate, create-user, api."""

from __future__ import annotations

import os
import socket

import asyncpg
import pytest

from contactplan.db import credentials_from_url, recreate_database
from tests.contactplan.processes import free_port, login, run_cli, whoami

COMMANDS = ["serve", "api", "worker", "migrate", "demo", "create-user", "send-sink"]
PASSWORD = "Correct-horse-battery-9"


def test_help_lists_every_command():
    result = run_cli("--help", env=dict(os.environ))
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
    assert "DATABASE_URL" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_explains_itself(command):
    result = run_cli(command, "--help", env=dict(os.environ))
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: contactplan {command}")


def test_missing_command_is_a_usage_error():
    result = run_cli(env=dict(os.environ))
    assert result.returncode == 2
    assert "COMMAND" in result.stderr


def test_bad_setting_is_named_and_exits_2(service_env):
    result = run_cli("migrate", env=service_env | {"PORT": "eighty"})
    assert result.returncode == 2
    assert "configuration error: PORT must be a whole number, got 'eighty'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_reported_without_traceback(service_env):
    url = f"postgres://postgres@127.0.0.1:{free_port()}/postgres"
    result = run_cli("migrate", env=service_env | {"DATABASE_URL": url})
    assert result.returncode == 1
    assert f"PostgreSQL at {url} does not answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_port_in_use(service_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", env=service_env | {"PORT": str(port)})
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


async def test_migrate_creates_the_schema_and_is_idempotent(server_url, service_env):
    url = await recreate_database(server_url, f"contactplan_cli_{os.getpid()}")
    env = service_env | {"DATABASE_URL": url}
    try:
        first = run_cli("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert "Database is up to date" in first.stdout
        again = run_cli("migrate", env=env)
        assert again.returncode == 0, again.stderr
        conn = await asyncpg.connect(**credentials_from_url(url))
        try:
            tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
        finally:
            await conn.close()
        assert {"contact", "event", "segment", "plan", "plan_run", "recipient"} <= tables
    finally:
        conn = await asyncpg.connect(**credentials_from_url(server_url))
        try:
            await conn.execute(
                f'DROP DATABASE IF EXISTS "contactplan_cli_{os.getpid()}" WITH (FORCE)'
            )
        finally:
            await conn.close()


async def test_create_user_reports_every_problem_and_changes_nothing(db, service_env):
    from models import User

    created = run_cli("create-user", "erin", "--profile", "GUEST", env=service_env, input=PASSWORD)
    assert created.returncode == 0, created.stderr
    again = run_cli("create-user", "erin", "--profile", "NOPE", env=service_env, input=PASSWORD)
    assert again.returncode == 1
    assert "This username is taken" in again.stderr
    assert "Unknown profile 'NOPE'" in again.stderr
    assert "Traceback" not in again.stderr
    empty = run_cli("create-user", "frank", env=service_env, input="\n")
    assert empty.returncode == 1
    assert "password must not be empty" in empty.stderr
    assert await User.filter(username__in=["erin", "frank"]).count() == 1


async def test_created_user_logs_in_through_the_api(db, service_env, start_command):
    created = run_cli(
        "create-user", "dora", "--password", PASSWORD, "--display-name", "Dora", env=service_env
    )
    assert created.returncode == 0, created.stderr
    assert "User 'dora' created with profile USER" in created.stdout
    port = free_port()
    api = start_command(["api"], service_env | {"PORT": str(port)})
    base_url = f"http://127.0.0.1:{port}"
    api.wait_healthy(base_url)

    token = login(base_url, "dora", PASSWORD)

    assert whoami(base_url, token) == ("dora", "USER")
    assert api.stop() == 0


async def test_demo_generates_a_contact_database(db, service_env):
    from models import Contact, ContactDatabase

    result = run_cli(
        "demo", "--contacts", "25", "--seed", "3", "--name", "cli-demo", "--quiet", env=service_env
    )

    assert result.returncode == 0, result.stderr
    database = await ContactDatabase.get(name="cli-demo")
    assert f"(id {database.id}) with 25 contacts" in result.stdout
    assert await Contact.filter(database_id=database.id).count() == 25

    again = run_cli("demo", "--contacts", "5", "--name", "cli-demo", "--quiet", env=service_env)
    assert again.returncode == 1
    assert "'cli-demo' exists; pass --replace" in again.stderr
    assert await Contact.filter(database_id=database.id).count() == 25

    replaced = run_cli(
        "demo", "--contacts", "5", "--name", "cli-demo", "--replace", "--quiet", env=service_env
    )
    assert replaced.returncode == 0, replaced.stderr
    database = await ContactDatabase.get(name="cli-demo")
    assert await Contact.filter(database_id=database.id).count() == 5


def test_demo_rejects_a_non_positive_contact_count(service_env):
    result = run_cli("demo", "--contacts", "0", env=service_env)
    assert result.returncode == 1
    assert "--contacts must be at least 1" in result.stderr


def test_worker_reports_unreachable_redis(service_env):
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = run_cli("worker", env=service_env | {"REDIS_URL": url})
    assert result.returncode == 1
    assert f"Redis at {url} does not answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_unusable_data_dir_is_reported(tmp_path, service_env):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    env = service_env | {"DATA_DIR": str(not_a_folder / "data")}
    env.pop("DATABASE_URL")
    result = run_cli("migrate", env=env)
    assert result.returncode == 1
    assert "could not start the embedded PostgreSQL/Redis under DATA_DIR=" in result.stderr
    assert "Traceback" not in result.stderr
