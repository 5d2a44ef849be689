"""Running `contactplan` commands as real subprocesses and talking to them over HTTP."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

WAIT_SECONDS = 180.0  # generous upper bound for a slow machine; not a speed assertion

LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) { token userErrors { path message code } }
}
"""


ME = "{ me { user { username displayName } profile { name } } }"


def whoami(base_url: str, token: str) -> tuple[str, str]:
    """(username, profile name) of the caller of `token`, asked over HTTP."""
    body = graphql(base_url, ME, token=token)
    assert "errors" not in body, body
    me = body["data"]["me"]
    return me["user"]["username"], me["profile"]["name"]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def without_service_urls(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with DATABASE_URL and REDIS_URL removed (embedded services)."""
    env = dict(os.environ if env is None else env)
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def run_cli(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = WAIT_SECONDS
) -> subprocess.CompletedProcess[str]:
    """Run `python -m contactplan ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "contactplan", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class RunningCommand:
    """A long-running `contactplan` subprocess whose output is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "contactplan", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = WAIT_SECONDS) -> re.Match[str]:
        """The first output line matching `pattern` (waits for it)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                match = regex.search(line)
                if match:
                    return match
            seen = len(self.lines)
            if self.process.poll() is not None and not self._reader.is_alive():
                raise AssertionError(
                    f"process exited ({self.process.returncode}) before printing {pattern!r}:\n"
                    + self.output
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no line matching {pattern!r}:\n{self.output}")
            with contextlib.suppress(queue.Empty):
                self._new.get(timeout=0.2)

    def wait_healthy(self, base_url: str, timeout: float = WAIT_SECONDS) -> None:
        """Poll `/healthz` until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"process exited ({self.process.returncode}):\n{self.output}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{base_url}/healthz never answered 200:\n{self.output}")
            time.sleep(0.3)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def graphql(base_url: str, query: str, variables: dict | None = None, token: str | None = None):
    """POST a GraphQL request; returns the decoded JSON body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30.0,
    )
    assert response.status_code == 200, response.text
    return response.json()


def login(base_url: str, username: str, password: str) -> str:
    """Log in over HTTP and return the bearer token."""
    body = graphql(base_url, LOGIN, {"username": username, "password": password})
    assert "errors" not in body, body
    payload = body["data"]["login"]
    assert payload["userErrors"] == [], payload
    assert payload["token"]
    return payload["token"]


def processes_in(directory: Path) -> list[int]:
    """Pids of running processes whose working directory is inside `directory`.

    PostgreSQL runs in its data folder and Redis in its `dir`, so this finds embedded servers.
    """
    import psutil

    root = str(directory.resolve())
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            cwd, status = process.cwd(), process.status()
        except (psutil.Error, OSError):
            continue
        if (cwd == root or cwd.startswith(root + os.sep)) and status != psutil.STATUS_ZOMBIE:
            found.append(process.pid)
    return found
