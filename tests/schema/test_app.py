"""The ASGI app as a whole: /healthz, and a real uvicorn on loopback with its lifespan."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from dataclasses import replace

import httpx

from contactplan.app import create_app
from tests.conftest import TEST_PASSWORD, make_gql


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_healthz_is_ok_when_postgres_and_redis_answer(gql) -> None:
    response = await gql.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": "ok", "redis": "ok"}
    assert response.headers["x-request-id"]


async def test_healthz_names_redis_when_it_is_down(db, app_settings) -> None:
    closed = f"redis://127.0.0.1:{_free_port()}/0"
    client = make_gql(create_app(replace(app_settings, redis_url=closed), manage_orm=False))
    async with client.http:
        response = await client.http.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "postgres": "ok", "redis": "down"}


async def test_healthz_reports_missing_redis_configuration(db, app_settings) -> None:
    client = make_gql(create_app(replace(app_settings, redis_url=None), manage_orm=False))
    async with client.http:
        response = await client.http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"] == "down"


SERVER = """
import sys, uvicorn
from contactplan.app import create_app
from contactplan.settings import Settings
uvicorn.run(create_app(Settings.from_env()), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
"""


async def test_real_uvicorn_serves_login_graphql_and_health(accounts, service_env) -> None:
    port = _free_port()
    env = dict(service_env, SECRET_KEY="uvicorn-test-secret")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVER,
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                assert process.returncode is None, (await process.stdout.read()).decode()
                try:
                    health = await http.get("/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "uvicorn did not start"
                    await asyncio.sleep(0.2)
            assert health.status_code == 200, health.text
            login = await http.post(
                "/graphql",
                json={
                    "query": 'mutation($p: String!) { login(username: "admin", password: $p)'
                    " { token } }",
                    "variables": {"p": TEST_PASSWORD},
                },
            )
            token = login.json()["data"]["login"]["token"]
            me = await http.post(
                "/graphql",
                json={"query": "{ me { name databases { name } } }"},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "live-1"},
            )
            assert me.json() == {
                "data": {
                    "me": {"name": "admin", "databases": [{"name": "Main"}, {"name": "Other"}]}
                }
            }
            assert me.headers["x-request-id"] == "live-1"
            page = await http.get("/graphql", headers={"Accept": "text/html"})
            assert "GraphiQL" in page.text
            assert (await http.get("/static/graphiql/graphiql-page.js")).status_code == 200
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
    assert process.returncode is not None
