"""Fixtures for tests that run `contactplan` commands as real subprocesses."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.contactplan.processes import RunningCommand


@pytest.fixture
def start_command() -> Iterator[Callable[[list[str], dict[str, str]], RunningCommand]]:
    """Start `contactplan` subprocesses; any still running at the end is killed."""
    started: list[RunningCommand] = []

    def start(args: list[str], env: dict[str, str]) -> RunningCommand:
        command = RunningCommand(args, env)
        started.append(command)
        return command

    yield start
    for command in started:
        try:
            command.stop(timeout=60)  # lets `serve` stop its children and embedded servers
        except subprocess.TimeoutExpired:
            command.kill()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh DATA_DIR outside pytest's tmp folder.

    Embedded PostgreSQL runs as another user when we are root and must traverse the path;
    pytest resets its `pytest-of-<user>` folder to mode 0700 whenever a session starts.
    """
    path = Path(tempfile.mkdtemp(prefix="contactplan-data-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
