"""Fixtures for actors: real HTTP servers on loopback (the send-sink process, webhook peers).

A server in a thread of the test process shares the GIL with the client and answers in
~45 ms a call; the send-sink runs as its own process (`run_send_sink`), as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn

from actors.platform_client import PlatformClient

SINK_TOKEN = "sink-test-token"
WEBHOOK_SECRET = "webhook-test-secret"


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _server(app: Any) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="off")
    return uvicorn.Server(config)


@contextlib.asynccontextmanager
async def served_in_this_loop(app: Any) -> AsyncIterator[str]:
    """Serve `app` on loopback from the running event loop (it can use the test's Tortoise)."""
    sock = free_socket()
    server = _server(app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Sink:
    """A running send-sink: its URL, token and control calls."""

    url: str
    token: str = SINK_TOKEN

    def client(self, **options: Any) -> PlatformClient:
        return PlatformClient(self.url, self.token, **options)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a /_sink/ control endpoint; fail the test on an error answer."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            response = await http.request(
                method, path, json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
        assert response.is_success, response.text
        return response.json()

    async def faults(self, **faults: Any) -> None:
        await self.control("POST", "/_sink/faults", faults)

    async def received(self, delivery_id: str) -> dict[str, Any]:
        data = await self.control("GET", f"/_sink/received?delivery_id={delivery_id}")
        (delivery,) = data["deliveries"]
        return delivery


class SinkProcess:
    """`run_send_sink` in its own Python process on a free loopback port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        webhook_url: str | None = None,
        auto_feedback: dict[str, float] | None = None,
    ) -> None:
        self.data_dir = data_dir
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = webhook_url
        self.auto_feedback = auto_feedback
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> SinkProcess:
        code = (
            "from pathlib import Path; from actors.send_sink import run_send_sink; "
            f"run_send_sink('127.0.0.1', {self.port}, Path({str(self.data_dir)!r}), "
            f"token={SINK_TOKEN!r}, webhook_url={self.webhook_url!r}, "
            f"webhook_secret={WEBHOOK_SECRET!r}, auto_feedback={self.auto_feedback!r},"
            " log_level='warning')"
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "sink.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"send-sink exited: {(self.data_dir / 'sink.log').read_text()}")
            try:
                if httpx.get(f"{self.url}/_sink/health", timeout=1).is_success:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("send-sink did not start in 30 s")
            time.sleep(0.05)

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def sink_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sink]:
    """One send-sink process (journal in a temp folder) for the session."""
    with SinkProcess(tmp_path_factory.mktemp("sink")) as server:
        yield Sink(server.url)


@pytest_asyncio.fixture(loop_scope="session")
async def sink(sink_server: Sink) -> AsyncIterator[Sink]:
    """The session's send-sink, emptied and with no faults, for one test."""
    await sink_server.control("POST", "/_sink/reset")
    yield sink_server


# --- plan execution (tick, run_plan, deliver_batch): see tests/actors/plan_fixtures.py ---
from tests.actors.plan_fixtures import world  # noqa: E402, F401
# --- end plan execution ---
