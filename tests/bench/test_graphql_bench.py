"""bench/graphql.py runs end to end with tiny numbers (no timing is asserted).

It runs as a subprocess, the way it is used: it initialises and closes its own ORM, which
must not touch the test session's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_graphql_bench_runs_and_reports_every_case(server_url: str) -> None:
    argv = ["--database-url", server_url, "--requests", "5", "--concurrency", "2"]
    argv += ["--port", str(_free_port()), "--drop"]
    argv += ["--database-name", f"contactplan_bench_test_{os.getpid()}"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.graphql", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for case in ("(a) 100 segments", "(b) segment definition", "(c) contact + last 50"):
        assert case in out
    assert out.count("ratio") == 3
