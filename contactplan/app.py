"""The ASGI application: GraphQL, health check, GraphiQL assets; built from explicit parts."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contactplan.downloads import download_routes
from contactplan.graphql_app import BodyTooLarge, GraphQLApp, error_response
from contactplan.settings import Settings

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
HEALTH_TIMEOUT_SECONDS = 3.0


class RequestIdMiddleware:
    """Gives every request an id (a sane incoming X-Request-ID, else a new uuid4).

    The id is in `scope["state"]["request_id"]` and in the response's X-Request-ID header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, scope: Scope):
        return error_response(
            413,
            f"Request body is larger than {self.max_bytes} bytes.",
            "PAYLOAD_TOO_LARGE",
            scope.get("state", {}).get("request_id"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope)(scope, receive, send)


async def _check_postgres() -> None:
    from tortoise import connections

    await connections.get("default").execute_query("SELECT 1")


async def _check_redis(url: str | None) -> None:
    if not url:
        raise RuntimeError("REDIS_URL is not configured")
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(
        url, socket_connect_timeout=HEALTH_TIMEOUT_SECONDS, socket_timeout=HEALTH_TIMEOUT_SECONDS
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _status(name: str, check) -> str:
    try:
        await asyncio.wait_for(check, HEALTH_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "down"; the reason goes to the log only
        log.warning("health check: %s is down: %s: %s", name, type(exc).__name__, exc)
        return "down"
    return "ok"


def _health_endpoint(settings: Settings):
    async def healthz(request: Request) -> JSONResponse:
        postgres, redis = await asyncio.gather(
            _status("postgres", _check_postgres()),
            _status("redis", _check_redis(settings.redis_url)),
        )
        ok = postgres == "ok" and redis == "ok"
        body = {"status": "ok" if ok else "unavailable", "postgres": postgres, "redis": redis}
        return JSONResponse(body, status_code=200 if ok else 503)

    return healthz


FEEDBACK_WEBHOOK_PATH = "/webhooks/delivery-feedback"


def _feedback_endpoint(settings: Settings):
    """The delivery platform's feedback webhook: signed with DELIVERY_WEBHOOK_SECRET."""
    from actors.feedback import SIGNATURE_HEADER, InvalidFeedback, handle_feedback_webhook

    async def delivery_feedback(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            result = await handle_feedback_webhook(
                body, request.headers.get(SIGNATURE_HEADER), settings.delivery_webhook_secret
            )
        except InvalidFeedback as error:
            status = 401 if error.code == "bad_signature" else 400
            return JSONResponse({"error": {"code": error.code, "message": str(error)}}, status)
        return JSONResponse({"received": result.received, "stored": result.stored})

    return delivery_feedback


def settle_heap() -> None:
    """Move what startup built (schema, models, modules) out of the garbage collector's
    sight: requests allocate many short-lived objects, and each full collection otherwise
    walks the whole startup heap again (the GraphQL bench's p99 was 150 ms for a 35 ms p50)."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings, *, manage_orm: bool = True) -> Starlette:
    """The ASGI app. With `manage_orm`, its lifespan opens and closes the Tortoise ORM."""
    from contactplan.graphiql import GRAPHIQL_STATIC_DIR
    from schema import build_schema

    graphql = GraphQLApp(build_schema(settings), settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not manage_orm:  # embedded in another app (tests, benches): it owns the process
            yield
            return
        from tortoise.contrib.starlette import RegisterTortoise

        from contactplan.db import tortoise_config

        if not settings.database_url:
            raise RuntimeError("create_app(manage_orm=True) needs settings.database_url")
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            settle_heap()
            yield

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),  # subscriptions (graphql-transport-ws)
            Route("/healthz", _health_endpoint(settings), methods=["GET"]),
            Route(FEEDBACK_WEBHOOK_PATH, _feedback_endpoint(settings), methods=["POST"]),
            *download_routes(settings),
            Mount("/static/graphiql", StaticFiles(directory=GRAPHIQL_STATIC_DIR), name="graphiql"),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
