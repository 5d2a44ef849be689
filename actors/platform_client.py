"""Client of the delivery platform's HTTP API, its error classes and a retry helper.

The API (JSON, `Authorization: Bearer <token>`, served for development by `actors.send_sink`):

    POST /v1/deliveries                  {channel, message, reference} -> delivery
         (optional Idempotency-Key: the same key and body return the same delivery)
    POST /v1/deliveries/{id}/recipients  Idempotency-Key: <batch key>
                                         {recipients: [{contact_ref, address, data?}]}
                                         -> {accepted, duplicate}; same key + other body: 409
    POST /v1/deliveries/{id}/start       -> delivery (starting twice is a no-op)
    GET  /v1/deliveries/{id}             -> delivery {id, channel, status, reference, counts}
    GET  /v1/deliveries/{id}/feedback?after=<cursor>&limit=<n> -> {items, cursor}
    errors: {"error": {"code", "message"}}; 429 and 503 may carry Retry-After (seconds).

contactplan sends `contact_ref` = the contact id as a string and `reference` =
`DeliveryReference(database_id, run_id, consumer_position)`; feedback echoes both, which is
how `actors.feedback` maps platform feedback back to contacts and runs.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

CHANNELS = ("email", "sms", "push")
MAX_BATCH_RECIPIENTS = 10_000  # the API's limit of recipients per batch
T = TypeVar("T")


class PlatformError(Exception):
    """A call to the delivery platform failed."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class RetryableError(PlatformError):
    """Worth trying again later: 5xx, 429, 408, timeouts, connection errors."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "unavailable",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class PermanentError(PlatformError):
    """The platform refused the request (4xx); sending it again gives the same answer."""


@dataclass(frozen=True)
class DeliveryReference:
    """Which contact database, run and plan consumer a platform delivery belongs to."""

    database_id: int
    run_id: int
    consumer_position: int = 0

    _PATTERN = re.compile(r"^contactplan:(\d+):(\d+):(\d+)$")

    def __str__(self) -> str:
        return f"contactplan:{self.database_id}:{self.run_id}:{self.consumer_position}"

    @classmethod
    def parse(cls, text: Any) -> DeliveryReference | None:
        """The reference in `text`, or None when it is not one of contactplan's."""
        match = cls._PATTERN.match(text) if isinstance(text, str) else None
        return cls(int(match[1]), int(match[2]), int(match[3])) if match else None


@dataclass(frozen=True)
class Delivery:
    """A delivery as the platform reports it."""

    id: str
    channel: str
    status: str  # draft | started
    reference: str | None
    counts: dict[str, int] = field(default_factory=dict)  # recipients, batches, delivered...

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Delivery:
        return cls(
            id=data["id"],
            channel=data["channel"],
            status=data["status"],
            reference=data.get("reference"),
            counts=dict(data.get("counts") or {}),
        )


@dataclass(frozen=True)
class BatchResult:
    """What the platform did with a recipients batch; `duplicate`: the key was seen before."""

    accepted: int
    duplicate: bool


@dataclass(frozen=True)
class FeedbackPage:
    """Feedback events after a cursor, and the cursor to ask from next time."""

    items: list[dict[str, Any]]
    cursor: str | None


class PlatformClient:
    """Async client of the delivery platform; use as `async with PlatformClient(...) as c`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> PlatformClient:
        """A client for `settings.delivery_url` with `settings.delivery_token` and timeout."""
        if not settings.delivery_url:
            raise ValueError("no delivery platform URL is set (DELIVERY_URL)")
        timeout = getattr(settings, "delivery_timeout_seconds", None)
        if timeout:
            options.setdefault("timeout", float(timeout))
        return cls(settings.delivery_url, settings.delivery_token, **options)

    async def __aenter__(self) -> PlatformClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create_delivery(
        self,
        channel: str,
        message: dict[str, Any],
        *,
        reference: DeliveryReference | str | None = None,
        idempotency_key: str | None = None,
    ) -> Delivery:
        """Create a delivery of `message` (template, subject, sender, labels) on `channel`."""
        body = {"channel": channel, "message": message}
        if reference is not None:
            body["reference"] = str(reference)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        data = await self._call("POST", "/v1/deliveries", json=body, headers=headers)
        return Delivery.from_json(data)

    async def add_recipients(
        self, delivery_id: str, batch_key: str, recipients: list[dict[str, Any]]
    ) -> BatchResult:
        """Add one batch; sending the same `batch_key` again never adds its recipients twice."""
        data = await self._call(
            "POST",
            f"/v1/deliveries/{delivery_id}/recipients",
            json={"recipients": recipients},
            headers={"Idempotency-Key": batch_key},
        )
        return BatchResult(accepted=int(data["accepted"]), duplicate=bool(data["duplicate"]))

    async def start(self, delivery_id: str) -> Delivery:
        """Start sending (a no-op on a started delivery)."""
        return Delivery.from_json(await self._call("POST", f"/v1/deliveries/{delivery_id}/start"))

    async def status(self, delivery_id: str) -> Delivery:
        """The delivery's status and counts."""
        return Delivery.from_json(await self._call("GET", f"/v1/deliveries/{delivery_id}"))

    async def feedback(
        self, delivery_id: str, *, after: str | None = None, limit: int = 500
    ) -> FeedbackPage:
        """Feedback events (delivered, bounced, opened, clicked) after the cursor `after`."""
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        data = await self._call("GET", f"/v1/deliveries/{delivery_id}/feedback", params=params)
        return FeedbackPage(items=list(data["items"]), cursor=data.get("cursor"))

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"{method} {path}: timed out", code="timeout") from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"{method} {path}: {exc!r}", code="connection") from exc
        if not response.is_success:
            raise classify_response(response)
        try:
            return response.json()
        except ValueError as exc:
            raise RetryableError(f"{method} {path}: answer is not JSON", code="bad_answer") from exc


def classify_response(response: httpx.Response) -> PlatformError:
    """The error an unsuccessful platform response stands for."""
    code, message = _error_body(response)
    text = (
        f"{response.request.method} {response.request.url.path}: {response.status_code} {message}"
    )
    status = response.status_code
    if status in (408, 429) or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RetryableError(text, status=status, code=code, retry_after=retry_after)
    return PermanentError(text, status=status, code=code)


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_" + str(response.status_code), response.reason_phrase


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, at most `max_attempts` calls in all."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0  # a longer Retry-After is capped (the batch is retried later)

    def delay(self, attempt: int, error: RetryableError, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)  # "equal jitter": spread, never zero


OnRetry = Callable[[int, RetryableError, float], Awaitable[None] | None]


async def send_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy = RetryPolicy(),
    on_retry: OnRetry | None = None,
    rng: random.Random | None = None,
) -> T:
    """Await `call()` until it succeeds, retrying `RetryableError` with backoff.

    `PermanentError` is raised at once; after `policy.max_attempts` the last `RetryableError`
    is raised. `on_retry(attempt, error, delay)` is called before each wait (for logs and
    attempt counters). `call` must be idempotent (e.g. `add_recipients` with a fixed key).
    """
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except RetryableError as error:
            if attempt >= policy.max_attempts:
                raise
            wait = policy.delay(attempt, error, rng)
            if on_retry is not None:
                result = on_retry(attempt, error, wait)
                if result is not None:
                    await result
            await asyncio.sleep(wait)
