"""Scheduler job: drop dashboard member tables a crashed computation left behind."""

from __future__ import annotations

import logging
import time

from tortoise import connections

from actors.worker import tick
from segmentation.dashboards.member_tables import drop_orphans

log = logging.getLogger(__name__)

SWEEP_SECONDS = 600.0  # the scheduler ticks every second; the sweep runs this seldom
_last_sweep: list[float] = []


@tick
async def sweep_dashboard_tables() -> None:
    """Every SWEEP_SECONDS, drop member tables older than an hour."""
    now = time.monotonic()
    if _last_sweep and now - _last_sweep[-1] < SWEEP_SECONDS:
        return
    _last_sweep[:] = [now]
    async with connections.get("default").acquire_connection() as conn:
        dropped = await drop_orphans(conn)
    if dropped:
        log.info("dropped %d orphan dashboard member tables: %s", len(dropped), dropped)
