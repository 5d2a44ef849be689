"""A liveness actor and tick: prove a worker consumes messages and runs its scheduler loop."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from datetime import UTC, datetime

from tortoise import connections

from actors.broker import actor, current_broker
from actors.worker import tick

PING_KEY = "contactplan:ping:{token}"
HEARTBEAT_KEY = "contactplan:worker:{host}:{pid}"
HEARTBEAT_TTL_SECONDS = 10


@actor(max_retries=0)
async def record_ping(token: str) -> None:
    """Store which worker answered and the database time it read at `contactplan:ping:<token>`."""
    rows = await connections.get("default").execute_query_dict("SELECT now() AS now")
    value = json.dumps({"pid": os.getpid(), "database_time": rows[0]["now"].isoformat()})
    client = current_broker().client
    await asyncio.to_thread(client.set, PING_KEY.format(token=token), value, ex=3600)


@tick
async def worker_heartbeat() -> None:
    """Keep `contactplan:worker:<host>:<pid>` alive while this worker's scheduler loop runs."""
    key = HEARTBEAT_KEY.format(host=socket.gethostname(), pid=os.getpid())
    now = datetime.now(UTC).isoformat()
    client = current_broker().client
    await asyncio.to_thread(client.set, key, now, ex=HEARTBEAT_TTL_SECONDS)
