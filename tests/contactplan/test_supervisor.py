"""The supervisor of `contactplan serve`, with real child processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from contactplan.supervisor import ChildSpec, Supervisor
from tests.contactplan.processes import free_port

WAIT_SECONDS = 60.0


def python_child(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [sys.executable, "-c", code], env={})


def wait_for_lines(path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"{path} never had {count} lines")


def test_crashed_child_is_restarted(tmp_path):
    starts = tmp_path / "starts"
    # Exits with an error on its first two starts, then stays up.
    code = (
        "import os, time, pathlib\n"
        f"p = pathlib.Path({str(starts)!r})\n"
        "with p.open('a') as f: f.write(f'{os.getpid()}\\n')\n"
        "if len(p.read_text().split()) < 3: raise SystemExit(3)\n"
        "time.sleep(120)\n"
    )
    supervisor = Supervisor([python_child("flaky", code)], first_backoff=0.05)
    stopper = threading.Thread(
        target=lambda: (wait_for_lines(starts, 3), supervisor.request_stop())
    )
    stopper.start()
    assert supervisor.run() == 0
    stopper.join()
    pids = starts.read_text().split()
    assert len(pids) == 3 and len(set(pids)) == 3
    last = supervisor.children[0].process
    assert last is not None and last.returncode == -signal.SIGTERM


def test_supervisor_gives_up_on_a_child_that_keeps_crashing(tmp_path):
    starts = tmp_path / "starts"
    code = f"open({str(starts)!r}, 'a').write('x\\n')\nraise SystemExit(5)\n"
    supervisor = Supervisor(
        [python_child("broken", code)], first_backoff=0.01, max_quick_failures=3
    )
    assert supervisor.run() == 1
    assert len(starts.read_text().split()) == 4  # the first start and three restarts


def test_stop_terminates_every_child(tmp_path):
    ready = tmp_path / "ready"
    code = (
        "import os, time\n"
        f"open({str(ready)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        "time.sleep(120)\n"
    )
    supervisor = Supervisor([python_child("a", code), python_child("b", code)])
    stopper = threading.Thread(target=lambda: (wait_for_lines(ready, 2), supervisor.request_stop()))
    stopper.start()
    assert supervisor.run() == 0
    stopper.join()
    for child in supervisor.children:
        assert child.process is not None
        assert child.process.returncode == -signal.SIGTERM


def test_child_ignoring_sigterm_is_killed_after_the_timeout(tmp_path):
    ready = tmp_path / "ready"
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(ready)!r}, 'w').write('up\\n')\n"
        "time.sleep(120)\n"
    )
    supervisor = Supervisor([python_child("stubborn", code)], stop_timeout=0.5)
    stopper = threading.Thread(target=lambda: (wait_for_lines(ready, 1), supervisor.request_stop()))
    stopper.start()
    assert supervisor.run() == 0
    stopper.join()
    process = supervisor.children[0].process
    assert process is not None and process.returncode == -signal.SIGKILL


def test_child_stops_itself_when_its_supervisor_is_killed(tmp_path):
    port = free_port()
    # A stand-in supervisor: starts a real `contactplan send-sink` child, then is SIGKILLed.
    supervisor_code = (
        "import os, subprocess, sys, time\n"
        "env = dict(os.environ, CONTACTPLAN_SUPERVISOR_PID=str(os.getpid()))\n"
        "child = subprocess.Popen([sys.executable, '-m', 'contactplan', 'send-sink',"
        f" '--port', '{port}'], env=env)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = dict(os.environ, DATA_DIR=str(tmp_path))
    supervisor = subprocess.Popen(
        [sys.executable, "-c", supervisor_code], env=env, stdout=subprocess.PIPE, text=True
    )
    assert supervisor.stdout is not None
    child = psutil.Process(int(supervisor.stdout.readline()))
    wait_until_listening(port)

    supervisor.kill()
    supervisor.wait()

    try:
        child.wait(timeout=WAIT_SECONDS)
    except psutil.TimeoutExpired:
        child.kill()
        raise AssertionError("the child outlived its supervisor") from None


def wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")
