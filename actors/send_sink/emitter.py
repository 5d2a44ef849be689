"""Simulated feedback of a started delivery, and its signed POST to contactplan's webhook.

Per recipient, in order, with one seeded random generator: it bounces with probability
`bounced`; otherwise it is delivered with probability `delivered`; a delivered message is
opened with probability `opened`; an opened one is clicked with probability `clicked` (on a
link of one of `link_categories`). Event ids are `<delivery>:<recipient index>:<type>`, so
emitting again regenerates the same events and contactplan stores them once.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from actors.feedback import SIGNATURE_HEADER, sign_body
from actors.platform_client import (
    PlatformError,
    RetryableError,
    RetryPolicy,
    classify_response,
    send_with_retries,
)
from actors.send_sink.store import Delivery

DEFAULT_LINK_CATEGORIES = ("product", "promotion", "social", "unsubscribe")


class BadEmission(ValueError):
    """An emit-feedback request with a wrong value."""


@dataclass(frozen=True)
class FeedbackRates:
    delivered: float = 1.0
    bounced: float = 0.0
    opened: float = 0.0
    clicked: float = 0.0

    @classmethod
    def from_json(cls, data: Any) -> FeedbackRates:
        if not isinstance(data, dict):
            raise BadEmission("rates must be an object")
        unknown = sorted(set(data) - {"delivered", "bounced", "opened", "clicked"})
        if unknown:
            raise BadEmission(f"unknown rates: {', '.join(unknown)}")
        for name, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise BadEmission(f"rates.{name} must be a number from 0 to 1")
        return cls(**data)


@dataclass(frozen=True)
class Emission:
    """What to emit for one delivery."""

    rates: FeedbackRates = field(default_factory=FeedbackRates)
    seed: int | None = None
    link_categories: tuple[str, ...] = DEFAULT_LINK_CATEGORIES


def generate_feedback(delivery: Delivery, emission: Emission) -> list[dict[str, Any]]:
    """The feedback events of every recipient of a started delivery (deterministic by seed)."""
    rng = random.Random(emission.seed)  # noqa: S311 - simulation, not security
    rates = emission.rates
    base = datetime.fromisoformat(delivery.started_at or delivery.created_at)
    events: list[dict[str, Any]] = []

    def event(index: int, recipient: dict[str, Any], kind: str, minutes: float, **extra: Any):
        events.append(
            {
                "id": f"{delivery.id}:{index}:{kind}",
                "delivery_id": delivery.id,
                "reference": delivery.reference,
                "channel": delivery.channel,
                "type": kind,
                "contact_ref": recipient.get("contact_ref"),
                "address": recipient.get("address"),
                "subject": delivery.message.get("subject"),
                "occurred_at": (base + timedelta(minutes=minutes)).isoformat(),
                **extra,
            }
        )

    for index, recipient in enumerate(delivery.recipients):
        at = rng.uniform(0, 5)
        if rng.random() < rates.bounced:
            event(index, recipient, "bounced", at)
            continue
        if rng.random() >= rates.delivered:
            continue
        event(index, recipient, "delivered", at)
        if rng.random() >= rates.opened:
            continue
        at += rng.uniform(1, 600)
        event(index, recipient, "opened", at)
        if rng.random() >= rates.clicked:
            continue
        category = rng.choice(emission.link_categories)
        link = f"https://shop.example/{category}"
        event(index, recipient, "clicked", at + rng.uniform(0, 5), link_category=category, url=link)
    return events


WEBHOOK_RETRY = RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=2.0)


async def post_feedback(
    url: str,
    secret: str,
    events: list[dict[str, Any]],
    *,
    batch_size: int = 500,
    retry: RetryPolicy = WEBHOOK_RETRY,
) -> dict[str, Any]:
    """POST the events as signed `{"items": [...]}` batches; report what was accepted.

    A batch answered 5xx/429 or not answered is sent again (contactplan ingests idempotently);
    a 4xx (e.g. a wrong signature) is reported at once.
    """
    posted, failures = 0, []
    async with httpx.AsyncClient(timeout=30.0) as http:

        async def send(body: bytes) -> None:
            signature = sign_body(body, secret)
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
            try:
                response = await http.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise RetryableError(repr(exc), code="connection") from exc
            if not response.is_success:
                raise classify_response(response)

        for start in range(0, len(events), batch_size):
            batch = events[start : start + batch_size]
            body = json.dumps({"items": batch}, separators=(",", ":")).encode()
            try:
                await send_with_retries(lambda body=body: send(body), policy=retry)
            except PlatformError as error:
                failure = {"batch": start // batch_size, "status": error.status}
                failures.append(failure | ({} if error.status else {"error": error.message}))
                continue
            posted += len(batch)
    batches = (len(events) + batch_size - 1) // batch_size
    return {"posted": posted, "batches": batches, "failures": failures}
