"""Misbehaviour the send-sink can be told to show: failures, slowness, hangs, rate limits.

One random draw per API call (seeded: the same seed gives the same sequence of outcomes):

- `fail_rate`: answer `status` without doing anything;
- `timeout_rate`: do the work, then hang `hang_seconds` before answering (the client times
  out although the call took effect: the case idempotency keys exist for);
- `lose_rate`: do the work, then answer `status` (a lost response);
- `delay_ms`: every call waits this long first;
- `max_rate`: calls per second over which the answer is 429 with Retry-After (token bucket,
  burst of max(1, max_rate)).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any


class Outcome(Enum):
    NORMAL = "normal"
    FAIL = "fail"  # before the work
    HANG = "hang"  # after the work
    LOSE = "lose"  # after the work


class BadFaults(ValueError):
    """A faults document with a wrong value."""


@dataclass
class Faults:
    """The current fault settings (POST /_sink/faults replaces them)."""

    fail_rate: float = 0.0
    timeout_rate: float = 0.0
    lose_rate: float = 0.0
    status: int = 503
    delay_ms: int = 0
    hang_seconds: float = 30.0
    max_rate: float | None = None
    seed: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> Faults:
        if not isinstance(data, dict):
            raise BadFaults("faults must be an object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise BadFaults(f"unknown fault settings: {', '.join(unknown)}")
        faults = cls(**data)
        for name in ("fail_rate", "timeout_rate", "lose_rate"):
            value = getattr(faults, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise BadFaults(f"{name} must be a number from 0 to 1")
        if faults.fail_rate + faults.timeout_rate + faults.lose_rate > 1:
            raise BadFaults("fail_rate + timeout_rate + lose_rate must be at most 1")
        if not isinstance(faults.status, int) or not 400 <= faults.status <= 599:
            raise BadFaults("status must be an HTTP error status (400-599)")
        if not isinstance(faults.delay_ms, int) or not 0 <= faults.delay_ms <= 600_000:
            raise BadFaults("delay_ms must be an integer from 0 to 600000")
        if not isinstance(faults.hang_seconds, int | float) or not 0 < faults.hang_seconds <= 3600:
            raise BadFaults("hang_seconds must be a number from 0 to 3600")
        if faults.max_rate is not None and (
            not isinstance(faults.max_rate, int | float) or faults.max_rate <= 0
        ):
            raise BadFaults("max_rate must be a positive number of calls per second")
        if faults.seed is not None and not isinstance(faults.seed, int):
            raise BadFaults("seed must be an integer")
        return faults

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class FaultInjector:
    """Decides, call by call, what the sink does."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.configure(faults or Faults())

    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)  # noqa: S311 - simulation, not security
        self.tokens = self.capacity
        self.refilled_at = time.monotonic()

    @property
    def capacity(self) -> float:
        return max(1.0, self.faults.max_rate or 1.0)

    def retry_after(self) -> int | None:
        """Seconds to wait when the call is over the rate limit, else None (and take a token)."""
        rate = self.faults.max_rate
        if rate is None:
            return None
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.refilled_at) * rate)
        self.refilled_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return max(1, math.ceil((1 - self.tokens) / rate))

    def outcome(self) -> Outcome:
        draw = self.rng.random()
        f = self.faults
        if draw < f.fail_rate:
            return Outcome.FAIL
        if draw < f.fail_rate + f.timeout_rate:
            return Outcome.HANG
        if draw < f.fail_rate + f.timeout_rate + f.lose_rate:
            return Outcome.LOSE
        return Outcome.NORMAL
