"""The send-sink's HTTP app: the platform API under /v1, controls for tests under /_sink."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from actors.platform_client import CHANNELS, MAX_BATCH_RECIPIENTS
from actors.send_sink.emitter import (
    DEFAULT_LINK_CATEGORIES,
    BadEmission,
    Emission,
    FeedbackRates,
    generate_feedback,
    post_feedback,
)
from actors.send_sink.faults import BadFaults, FaultInjector, Faults, Outcome
from actors.send_sink.store import Conflict, Delivery, SinkStore

MAX_BODY_BYTES = 5_000_000
MAX_KEY_LENGTH = 200

Handler = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("contactplan.send_sink")


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message"}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def create_send_sink_app(
    *,
    token: str,
    data_dir: Path | None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    auto_feedback: dict[str, float] | None = None,
) -> Starlette:
    """The development delivery platform: stores what it receives (in `data_dir` if given).

    With `auto_feedback` rates (see `emitter`), starting a delivery emits its feedback in the
    background, as a real platform would; otherwise `POST /_sink/emit-feedback` does.
    """
    if not token:
        raise ValueError("the send-sink needs a token (an empty one would let anyone in)")
    store = SinkStore(data_dir)
    injector = FaultInjector()
    configured_rates = FeedbackRates.from_json(auto_feedback) if auto_feedback else None
    auto: dict[str, FeedbackRates | None] = {"rates": configured_rates}
    background: set[asyncio.Task] = set()  # strong references until done

    def authorized(request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())

    def api(handler: Handler) -> Handler:
        """Auth, rate limit and fault injection around one platform API endpoint."""

        async def endpoint(request: Request) -> Response:
            if not authorized(request):
                return error_response(401, "unauthorized", "missing or wrong bearer token")
            wait = injector.retry_after()
            if wait is not None:
                headers = {"Retry-After": str(wait)}
                return error_response(429, "rate_limited", "too many calls", headers)
            faults = injector.faults
            if faults.delay_ms:
                await asyncio.sleep(faults.delay_ms / 1000)
            outcome = injector.outcome()
            if outcome is Outcome.FAIL:
                return error_response(faults.status, "injected_failure", "injected failure")
            try:
                response = await handler(request)
            except ApiError as exc:
                response = error_response(exc.status, exc.code, exc.message, exc.headers)
            if outcome is Outcome.HANG:
                await asyncio.sleep(faults.hang_seconds)
            if outcome is Outcome.LOSE:
                return error_response(faults.status, "injected_failure", "response lost")
            return response

        return endpoint

    def control(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not authorized(request):
                return error_response(401, "unauthorized", "missing or wrong bearer token")
            try:
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message)

        return endpoint

    def delivery_of(request: Request) -> Delivery:
        delivery = store.deliveries.get(request.path_params["delivery_id"])
        if delivery is None:
            raise ApiError(404, "not_found", "no such delivery")
        return delivery

    async def create_delivery(request: Request) -> Response:
        body = await json_body(request)
        channel, message = body.get("channel"), body.get("message")
        reference = body.get("reference")
        if channel not in CHANNELS:
            raise ApiError(422, "invalid", f"channel must be one of {', '.join(CHANNELS)}")
        if not isinstance(message, dict):
            raise ApiError(422, "invalid", "message must be an object")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 200):
            raise ApiError(422, "invalid", "reference must be a string of at most 200 characters")
        key = idempotency_key(request, required=False)
        try:
            delivery, duplicate = store.create(channel, message, reference, key)
        except Conflict:
            raise ApiError(409, "idempotency_key_reused", "key used with another body") from None
        return JSONResponse(delivery.to_json(), 200 if duplicate else 201)

    async def add_recipients(request: Request) -> Response:
        delivery = delivery_of(request)
        key = idempotency_key(request, required=True)
        body = await json_body(request)
        recipients = valid_recipients(body.get("recipients"))
        try:
            accepted, duplicate = store.add_recipients(delivery, key, recipients)  # type: ignore[arg-type]
        except Conflict:
            raise ApiError(
                409, "idempotency_key_reused", f"batch key {key!r} was used with other recipients"
            ) from None
        return JSONResponse(
            {"accepted": accepted, "duplicate": duplicate}, 200 if duplicate else 201
        )

    async def start(request: Request) -> Response:
        delivery = delivery_of(request)
        rates = auto["rates"]
        if store.start(delivery) and rates is not None:
            seed = int(hashlib.sha256(delivery.id.encode()).hexdigest()[:12], 16)
            task = asyncio.create_task(auto_emit(delivery, Emission(rates=rates, seed=seed)))
            background.add(task)
            task.add_done_callback(background.discard)
        return JSONResponse(delivery.to_json())

    async def emit(
        delivery: Delivery, emission: Emission, url: str | None, batch_size: int = 500
    ) -> dict[str, Any]:
        """Generate the delivery's feedback, keep it, and POST it to `url` if there is one."""
        events = generate_feedback(delivery, emission)
        new = store.add_feedback(delivery, events)
        result: dict[str, Any] = {"events": len(events), "new": new, "posted": 0, "failures": []}
        if url:
            if not webhook_secret:
                raise ApiError(409, "no_secret", "the sink has no webhook secret to sign with")
            result |= await post_feedback(url, webhook_secret, events, batch_size=batch_size)
        return result

    async def auto_emit(delivery: Delivery, emission: Emission) -> None:
        try:
            result = await emit(delivery, emission, webhook_url)
        except Exception:  # a background task: log, never crash the sink
            log.exception("feedback of delivery %s could not be emitted", delivery.id)
            return
        if result["failures"]:
            log.warning("feedback of delivery %s: %s", delivery.id, result["failures"])

    async def status(request: Request) -> Response:
        return JSONResponse(delivery_of(request).to_json())

    async def feedback(request: Request) -> Response:
        delivery = delivery_of(request)
        after = parse_int(request.query_params.get("after", "0"), "after", 0, None)
        limit = parse_int(request.query_params.get("limit", "500"), "limit", 1, 5000)
        items = delivery.feedback[after : after + limit]
        return JSONResponse({"items": items, "cursor": str(after + len(items))})

    async def set_faults(request: Request) -> Response:
        try:
            faults = Faults.from_json(await json_body(request))
        except (BadFaults, TypeError) as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        injector.configure(faults)
        return JSONResponse(faults.to_json())

    async def get_faults(request: Request) -> Response:
        return JSONResponse(injector.faults.to_json())

    async def received(request: Request) -> Response:
        return JSONResponse({"deliveries": store.received(request.query_params.get("delivery_id"))})

    async def reset(request: Request) -> Response:
        store.reset()
        auto["rates"] = configured_rates
        injector.configure(Faults())
        return JSONResponse({"reset": True})

    async def emit_feedback(request: Request) -> Response:
        body = await json_body(request)
        delivery = store.deliveries.get(body.get("delivery_id"))  # type: ignore[arg-type]
        if delivery is None:
            raise ApiError(404, "not_found", "no such delivery")
        if delivery.status != "started":
            raise ApiError(409, "not_started", "feedback exists only for a started delivery")
        try:
            emission = Emission(
                rates=FeedbackRates.from_json(body.get("rates", {})),
                seed=body.get("seed"),
                link_categories=tuple(body.get("link_categories", DEFAULT_LINK_CATEGORIES)),
            )
        except (BadEmission, TypeError) as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        batch_size = parse_int(str(body.get("batch_size", 500)), "batch_size", 1, 5000)
        url = body.get("webhook_url") or webhook_url
        return JSONResponse(await emit(delivery, emission, url, batch_size))

    async def set_auto_feedback(request: Request) -> Response:
        rates = (await json_body(request)).get("rates")
        try:
            auto["rates"] = FeedbackRates.from_json(rates) if rates is not None else None
        except (BadEmission, TypeError) as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        return await get_auto_feedback(request)

    async def get_auto_feedback(request: Request) -> Response:
        rates = auto["rates"]
        return JSONResponse({"rates": dataclasses.asdict(rates) if rates is not None else None})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "deliveries": len(store.deliveries)})

    async def server_error(request: Request, exc: Exception) -> Response:
        return error_response(500, "internal", "internal error")

    routes = [
        Route("/v1/deliveries", api(create_delivery), methods=["POST"]),
        Route("/v1/deliveries/{delivery_id}", api(status), methods=["GET"]),
        Route("/v1/deliveries/{delivery_id}/recipients", api(add_recipients), methods=["POST"]),
        Route("/v1/deliveries/{delivery_id}/start", api(start), methods=["POST"]),
        Route("/v1/deliveries/{delivery_id}/feedback", api(feedback), methods=["GET"]),
        Route("/_sink/faults", control(set_faults), methods=["POST"]),
        Route("/_sink/faults", control(get_faults), methods=["GET"]),
        Route("/_sink/received", control(received), methods=["GET"]),
        Route("/_sink/reset", control(reset), methods=["POST"]),
        Route("/_sink/emit-feedback", control(emit_feedback), methods=["POST"]),
        Route("/_sink/auto-feedback", control(set_auto_feedback), methods=["POST"]),
        Route("/_sink/auto-feedback", control(get_auto_feedback), methods=["GET"]),
        Route("/_sink/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={Exception: server_error})
    app.state.store = store
    app.state.injector = injector
    return app


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/413 ApiError."""
    declared = request.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "bad_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return body


def idempotency_key(request: Request, *, required: bool) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None or not key.strip():
        if required:
            raise ApiError(
                400, "idempotency_key_required", "the Idempotency-Key header is required"
            )
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "invalid", f"Idempotency-Key is over {MAX_KEY_LENGTH} characters")
    return key


def valid_recipients(value: Any) -> list[dict[str, Any]]:
    """The recipients list, or a 422 ApiError naming the first wrong item."""
    if not isinstance(value, list) or not value:
        raise ApiError(422, "invalid", "recipients must be a non-empty list")
    if len(value) > MAX_BATCH_RECIPIENTS:
        limit = MAX_BATCH_RECIPIENTS
        raise ApiError(422, "batch_too_large", f"at most {limit} recipients per batch")
    for i, recipient in enumerate(value):
        where = f"recipients[{i}]"
        if not isinstance(recipient, dict):
            raise ApiError(422, "invalid", f"{where} must be an object")
        ref, address = recipient.get("contact_ref"), recipient.get("address")
        if not isinstance(ref, str) or not 0 < len(ref) <= 128:
            raise ApiError(422, "invalid", f"{where}.contact_ref must be a string of 1-128 chars")
        if address is not None and (not isinstance(address, str) or len(address) > 320):
            raise ApiError(422, "invalid", f"{where}.address must be a string of at most 320 chars")
        if "data" in recipient and not isinstance(recipient["data"], dict):
            raise ApiError(422, "invalid", f"{where}.data must be an object")
    return value


def parse_int(value: str, name: str, low: int, high: int | None) -> int:
    if not value.isdigit() or int(value) < low or (high is not None and int(value) > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ApiError(400, "invalid", f"{name} must be an integer {bounds}")
    return int(value)
