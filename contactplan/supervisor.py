"""Child processes for `contactplan serve`: start, restart with backoff, stop cleanly.

API and worker run as separate processes because one Tortoise context must not be shared by
uvicorn's event loop and the worker's loop (docs/architecture.md, "Process model").
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Set in a child's environment: the child stops itself if this process goes away.
SUPERVISOR_PID_VAR = "CONTACTPLAN_SUPERVISOR_PID"


@dataclass
class ChildSpec:
    """How to start one supervised child process."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]


@dataclass
class Child:
    """A supervised child and its restart state."""

    spec: ChildSpec
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    start_after: float = 0.0

    def start(self) -> None:
        # Own process group: a terminal's Ctrl-C reaches only the supervisor, which stops
        # children in order instead of all processes dying at once.
        self.process = subprocess.Popen(  # noqa: S603 - argv built by contactplan itself
            list(self.spec.argv), env=self.spec.env, process_group=0
        )
        self.started_at = time.monotonic()
        log.info("%s started (pid %d)", self.spec.name, self.process.pid)


class ChildKeepsFailing(RuntimeError):
    """A child crashed right after starting too many times in a row."""


class Supervisor:
    """Runs children until SIGINT/SIGTERM; restarts a crashed child after a growing delay."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        first_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_after: float = 30.0,
        max_quick_failures: int = 6,
        stop_timeout: float = 20.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.children = [Child(spec) for spec in specs]
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.max_quick_failures = max_quick_failures
        self.stop_timeout = stop_timeout
        self.poll_interval = poll_interval
        self._stop = threading.Event()

    def request_stop(self, signum: int = signal.SIGTERM, _frame: object = None) -> None:
        """Ask `run` to stop the children and return (signal handler)."""
        if not self._stop.is_set():
            log.info("received %s, stopping", signal.Signals(signum).name)
        self._stop.set()

    def run(self) -> int:
        """Start every child and supervise until asked to stop; return the exit code."""
        previous = {
            sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for child in self.children:
                child.start()
            while not self._stop.wait(self.poll_interval):
                for child in self.children:
                    self._check(child)
            return 0
        except ChildKeepsFailing as error:
            log.error("%s", error)
            return 1
        finally:
            self.stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _check(self, child: Child) -> None:
        now = time.monotonic()
        if child.process is None:
            if now >= child.start_after:
                child.start()
            return
        code = child.process.poll()
        if code is None:
            return
        ran = now - child.started_at
        child.quick_failures = child.quick_failures + 1 if ran < self.stable_after else 1
        if child.quick_failures > self.max_quick_failures:
            raise ChildKeepsFailing(
                f"{child.spec.name} exited {child.quick_failures} times in a row within "
                f"{self.stable_after:.0f}s of starting (last exit code {code}); giving up"
            )
        delay = min(self.max_backoff, self.first_backoff * 2 ** (child.quick_failures - 1))
        log.warning(
            "%s (pid %d) exited with code %s; restarting in %.1fs",
            child.spec.name,
            child.process.pid,
            code,
            delay,
        )
        child.process = None
        child.start_after = now + delay

    def stop_children(self) -> None:
        """SIGTERM every running child's process group; SIGKILL what outlives the timeout."""
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in reversed(running):  # reverse start order: the worker before the API
            _signal_group(child.process, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            process = child.process
            assert process is not None
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s did not stop in %.0fs, killing it", child.spec.name, self.stop_timeout
                )
                _signal_group(process, signal.SIGKILL)
                process.wait()
            log.info("%s stopped (exit code %s)", child.spec.name, process.returncode)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def watch_parent(interval: float = 1.0) -> None:
    """In a supervised child: stop this process (SIGTERM to itself) when the supervisor dies."""
    supervisor = os.environ.get(SUPERVISOR_PID_VAR)
    if not supervisor:
        return
    supervisor_pid = int(supervisor)

    def watch() -> None:
        while os.getppid() == supervisor_pid:
            time.sleep(interval)
        log.warning("supervisor (pid %d) is gone, stopping", supervisor_pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-supervisor", daemon=True).start()
