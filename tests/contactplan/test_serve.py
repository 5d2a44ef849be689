"""`contactplan serve` on a fresh machine: embedded services, first admin, restarts, clean exit."""

from __future__ import annotations

import psutil

from tests.contactplan.processes import (
    free_port,
    login,
    processes_in,
    run_cli,
    whoami,
    without_service_urls,
)

CAROL_PASSWORD = "Carols-own-passw0rd"


def test_serve_from_nothing_keeps_data_across_restarts(data_dir, start_command):
    port = free_port()
    env = without_service_urls() | {"DATA_DIR": str(data_dir), "PORT": str(port)}
    env.pop("DELIVERY_URL", None)
    base_url = f"http://127.0.0.1:{port}"

    # First start: embedded PostgreSQL and Redis, migrations, the first admin.
    serve = start_command(["serve", "--threads", "2"], env)
    admin_password = serve.wait_for_line(r"Login: admin / (\S+)").group(1)
    serve.wait_for_line(r"Deliveries go to the development send-sink at http://127\.0\.0\.1:\d+")
    serve.wait_for_line(rf"GraphiQL: {base_url}/graphql")
    serve.wait_healthy(base_url)
    serve.wait_for_line(r"contactplan is ready")
    token = login(base_url, "admin", admin_password)
    assert whoami(base_url, token) == ("admin", "ADMIN")

    # Another command on the same DATA_DIR shares the running embedded PostgreSQL.
    created = run_cli("create-user", "carol", "--profile", "GUEST", env=env, input=CAROL_PASSWORD)
    assert created.returncode == 0, created.stdout + created.stderr
    assert login(base_url, "carol", CAROL_PASSWORD)

    children = psutil.Process(serve.process.pid).children(recursive=True)
    assert {"send-sink", "api", "worker"} <= {_command_of(child) for child in children}
    assert processes_in(data_dir), "embedded PostgreSQL/Redis should run in DATA_DIR"

    # SIGTERM: children, then embedded servers stop; exit code 0.
    assert serve.stop() == 0, serve.output
    for name in ("send-sink", "api", "worker"):
        assert f"{name} stopped (exit code 0)" in serve.output
    assert not [child for child in children if _alive(child)], serve.output
    assert processes_in(data_dir) == [], serve.output

    # Second start on the same DATA_DIR: same data, no new admin password.
    again = start_command(["serve", "--threads", "2"], env)
    again.wait_healthy(base_url)
    again.wait_for_line(r"contactplan is ready")
    assert "Login:" not in again.output
    carol = login(base_url, "carol", CAROL_PASSWORD)
    assert whoami(base_url, carol) == ("carol", "GUEST")
    assert login(base_url, "admin", admin_password)
    assert again.stop() == 0, again.output
    assert processes_in(data_dir) == []


def _command_of(process: psutil.Process) -> str:
    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return ""
    return cmdline[3] if cmdline[1:3] == ["-m", "contactplan"] and len(cmdline) > 3 else ""


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
