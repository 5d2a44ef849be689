"""Fixtures for tests that run `contactplan` commands as real subprocesses."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

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
