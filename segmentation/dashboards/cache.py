"""Dashboard cache in Redis: keyed by database, segment, definition, options and as-of day."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from segmentation.dashboards.model import DashboardOptions, Panel

PREFIX = "contactplan:dashboard"


def definition_hash(definition: Any) -> str:
    """A stable hash of JSON-like data (a segment definition, or compiled SQL and parameters)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class DashboardCache:
    """Computed panels kept for `ttl_seconds`; takes a `redis.asyncio.Redis` client."""

    def __init__(self, client: Any, *, ttl_seconds: int = 3600, prefix: str = PREFIX) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> DashboardCache:
        from redis.asyncio import Redis

        return cls(Redis.from_url(url), **kwargs)

    def key(
        self,
        database_id: int,
        segment_id: int | None,
        definition: str,
        options: DashboardOptions,
        day: date,
    ) -> str:
        """`prefix:database:segment|all:hash` where the hash covers definition, options, day."""
        digest = definition_hash([definition, options.to_dict(), day.isoformat()])[:32]
        return f"{self.prefix}:{database_id}:{segment_id or 'all'}:{digest}"

    async def get(self, key: str) -> tuple[datetime, list[Panel]] | None:
        raw = await self.client.get(key)
        if raw is None:
            return None
        data = json.loads(raw)
        return datetime.fromisoformat(data["computed_at"]), [
            Panel.from_dict(p) for p in data["panels"]
        ]

    async def put(self, key: str, computed_at: datetime, panels: list[Panel]) -> None:
        data = {"computed_at": computed_at.isoformat(), "panels": [p.to_dict() for p in panels]}
        await self.client.set(key, json.dumps(data, separators=(",", ":")), ex=self.ttl_seconds)

    async def invalidate(self, database_id: int, segment_id: int | None = None) -> int:
        """Drop the cached dashboards of a database (or of one of its segments); how many."""
        pattern = f"{self.prefix}:{database_id}:{segment_id or '*'}:*"
        keys = [key async for key in self.client.scan_iter(match=pattern, count=500)]
        return await self.client.delete(*keys) if keys else 0
