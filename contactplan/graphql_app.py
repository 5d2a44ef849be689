"""The GraphQL endpoint: strawberry's ASGI view wired to our context, GraphiQL and errors.

GraphQL over HTTP: GET and POST; `application/graphql-response+json` when the client
accepts it (then requests that fail before execution get HTTP 400), else
`application/json`. Transport errors (bad JSON, wrong content type) come back as JSON
`{"errors": [...]}` with a code, never as a stack trace.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from contactplan.settings import Settings
from permissions.auth import authenticate
from permissions.errors import Unauthenticated
from resolvers.context import RequestContext
from schema.root import INTERNAL_ERROR_MESSAGE, ContactplanSchema

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"


class BodyTooLarge(Exception):
    """Raised while reading a request body over the limit (see app.BodyLimitMiddleware)."""


def error_response(status: int, message: str, code: str, request_id: str | None) -> Response:
    """A GraphQL-shaped error document for a request that never reached execution."""
    extensions: dict[str, Any] = {"code": code}
    if request_id:
        extensions["requestId"] = request_id
    return JSONResponse(
        {"errors": [{"message": message, "extensions": extensions}]}, status_code=status
    )


def _request_id(scope: Scope) -> str | None:
    return scope.get("state", {}).get("request_id")


def _is_request_error(result: ExecutionResult) -> bool:
    """True if the request failed before execution (parse, validation, variables)."""
    errors: list[GraphQLError] = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


SUBSCRIPTION_OVER_HTTP = (
    "Subscriptions run over a WebSocket at /graphql (subprotocol graphql-transport-ws),"
    " not over HTTP."
)


class GraphQLApp(GraphQL):
    """Strawberry's ASGI view with our authentication, context and error formats."""

    def __init__(self, schema: ContactplanSchema, settings: Settings) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        request_id = _request_id(scope)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = error_response(exc.status_code, exc.reason, "BAD_REQUEST", request_id)
        except BodyTooLarge:
            raise  # answered with 413 by the body-limit middleware
        except Exception:  # e.g. the database is down while authenticating
            log.exception("internal error outside execution request=%s", request_id)
            response = error_response(
                500, INTERNAL_ERROR_MESSAGE, "INTERNAL_SERVER_ERROR", request_id
            )
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        request_id = _request_id(request.scope) or ""
        context = RequestContext(
            settings=self.settings, request_id=request_id, request=request, response=response
        )
        context.authorization = request.headers.get("authorization")
        try:
            context.principal = await authenticate(self.settings, context.authorization)
        except Unauthenticated as exc:
            # The request still runs: login works, guarded fields report this reason.
            context.auth_error = exc.message
        return context

    async def on_ws_connect(self, context: RequestContext) -> UnsetType:
        """WebSocket: a token in the connection_init payload ({"authorization": "Bearer ..."})
        replaces the handshake's Authorization header; a refused token closes with 4403."""
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        if header is None:
            return UNSET
        try:
            context.principal = await authenticate(self.settings, str(header))
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": exc.message}) from exc
        context.auth_error, context.authorization = None, str(header)
        return UNSET

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        accept = request.headers.get("accept", "")
        sub_response.media_type = (
            GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON in accept else APPLICATION_JSON
        )
        return sub_response

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            cause = exc.__cause__
            if isinstance(cause, InvalidOperationTypeError):
                if cause.operation_type == OperationType.SUBSCRIPTION:
                    raise HTTPException(400, SUBSCRIPTION_OVER_HTTP) from cause
                # GraphQL over HTTP: a mutation sent with GET is 405, not 400
                raise HTTPException(405, exc.reason) from cause
            raise

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPException(400, f"Request body is not valid JSON: {exc}") from exc
        except RecursionError as exc:  # e.g. 50,000 nested arrays in `variables`
            raise HTTPException(400, "Request body is nested too deeply.") from exc

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        processed = process_result(result)
        if _is_request_error(result):
            processed.pop("data", None)  # no execution happened: no `data` entry
        return processed

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media_type = sub_response.media_type or APPLICATION_JSON
        response.headers["content-type"] = media_type
        failed = isinstance(response_data, dict) and "data" not in response_data
        if media_type == GRAPHQL_RESPONSE_JSON and failed and not sub_response.status_code:
            response.status_code = 400
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        from contactplan.graphiql import CONTENT_SECURITY_POLICY, graphiql_html

        return HTMLResponse(
            graphiql_html(endpoint=request.url.path),
            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
        )
