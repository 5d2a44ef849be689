"""The root Query and Mutation, assembled from the domain modules, and the schema itself.

A new domain adds its `XQuery` / `XMutation` classes to QUERY_TYPES / MUTATION_TYPES.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.relay.types import GlobalIDValueError
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types.graphql import OperationType
from tortoise.exceptions import ValidationError

from permissions.classes import required_permission
from permissions.errors import BadArgument, RequestError
from permissions.names import Perm
from schema.accounts import AccountsMutation, AccountsQuery
from schema.audit import AuditQuery
from schema.catalog import CatalogMutation, CatalogQuery
from schema.contacts import ContactsMutation, ContactsQuery
from schema.cost import QueryCostLimiter
from schema.dashboards import DashboardsQuery
from schema.databases import DatabasesMutation, DatabasesQuery
from schema.dnd import DndMutation, DndQuery
from schema.fast_fields import fast_fields
from schema.input_guard import InputGuard
from schema.node import NodeQuery
from schema.plans import PlansMutation, PlansQuery, PlansSubscription
from schema.reports import ReportsQuery
from schema.saved_rules import SavedRulesMutation, SavedRulesQuery
from schema.segments import SegmentsMutation, SegmentsQuery

if TYPE_CHECKING:
    from strawberry.types import ExecutionContext

    from contactplan.settings import Settings

log = logging.getLogger("contactplan.graphql")

QUERY_TYPES: list[type] = [
    NodeQuery,
    AccountsQuery,
    DatabasesQuery,
    AuditQuery,
    CatalogQuery,
    ContactsQuery,
    PlansQuery,
    DndQuery,
    ReportsQuery,
    DashboardsQuery,
    SegmentsQuery,
    SavedRulesQuery,
]
MUTATION_TYPES: list[type] = [
    AccountsMutation,
    DatabasesMutation,
    CatalogMutation,
    ContactsMutation,
    PlansMutation,
    DndMutation,
    SegmentsMutation,
    SavedRulesMutation,
]
SUBSCRIPTION_TYPES: list[type] = [PlansSubscription]

INTERNAL_ERROR_MESSAGE = "Internal server error"


def is_unexpected(error: GraphQLError) -> bool:
    """True for errors caused by a bug or an outage, which clients must not see in detail.

    Parse and validation errors, RequestErrors (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND...),
    malformed global ids and GraphQL errors raised on purpose are expected.
    """
    original = error.original_error
    return original is not None and not isinstance(
        original, (RequestError, GraphQLError, GlobalIDValueError)
    )


def code_malformed_id(error: GraphQLError) -> None:
    """A global id that does not decode is the client's mistake: code it BAD_USER_INPUT."""
    if isinstance(error.original_error, GlobalIDValueError) and not error.extensions:
        error.extensions = {"code": BadArgument.code}


def _request_id(execution_context: ExecutionContext | None) -> str | None:
    context = getattr(execution_context, "context", None)
    return getattr(context, "request_id", None)


class MaskInternalErrors(MaskErrors):
    """Masks unexpected errors as 'Internal server error' with the request id to quote."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_ERROR_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if isinstance(error.original_error, ValidationError):
            # a model field refused a value (too long...): a resolver missed a check, but
            # the value is still the client's mistake, not an outage
            return GraphQLError(
                message="A value is too long or not valid for where it is stored.",
                nodes=error.nodes,
                path=error.path,
                extensions={
                    "code": BadArgument.code,
                    "requestId": _request_id(self.execution_context),
                },
            )
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={
                "code": "INTERNAL_SERVER_ERROR",
                "requestId": _request_id(self.execution_context),
            },
        )


class ContactplanSchema(strawberry.Schema):
    """The schema, with error logging by request id and the table of guarded operations."""

    operations: dict[str, Perm | None]  # root field -> permission (None: any caller)

    async def execute(  # type: ignore[override]
        self, query: str | None, *args: Any, allowed_operation_types: Any = None, **kwargs: Any
    ) -> Any:
        """Queries and mutations. Subscriptions run over the WebSocket (`subscribe`); one
        sent here is refused (InvalidOperationTypeError) instead of answering null."""
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        allowed.discard(OperationType.SUBSCRIPTION)
        return await super().execute(query, *args, allowed_operation_types=allowed, **kwargs)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        request_id = _request_id(execution_context)
        for error in errors:
            code_malformed_id(error)
            if is_unexpected(error):
                log.error(
                    "internal error request=%s path=%s: %s",
                    request_id,
                    error.path,
                    error.message,
                    exc_info=error.original_error,
                )
            else:
                log.info("request=%s graphql error: %s", request_id, error.message)


def operation_table(*root_types: type) -> dict[str, Perm | None]:
    """Root field name -> the permission it requires (None: any authenticated caller).

    Fields without a guard (login) are left out: anyone may call them.
    """
    table: dict[str, Perm | None] = {}
    for root in root_types:
        for field in root.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            guarded, perm = required_permission(field.extensions)
            if guarded:
                table[strawberry_name(field)] = perm
    return table


def strawberry_name(field: Any) -> str:
    """The GraphQL name of a Strawberry field."""
    return field.graphql_name or StrawberryConfig().name_converter.get_graphql_name(field)


def build_schema(settings: Settings) -> ContactplanSchema:
    """The GraphQL schema with limits, caches and masking configured from settings."""
    query = strawberry.type(
        type("Query", tuple(QUERY_TYPES), {}), description="Everything that can be read."
    )
    mutation = strawberry.type(
        type("Mutation", tuple(MUTATION_TYPES), {}), description="Everything that can be changed."
    )
    subscription = strawberry.type(
        type("Subscription", tuple(SUBSCRIPTION_TYPES), {}),
        description="Results pushed over a WebSocket (graphql-transport-ws) at /graphql.",
    )
    # The depth and alias rules are classes made once: ValidationCache keys on the rule
    # classes, and QueryDepthLimiter/MaxAliasesLimiter instances make new ones per request.
    limits = [
        depth_rule(settings.max_query_depth, None, None),
        aliases_rule(settings.max_aliases),
    ]
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: AddValidationRules(limits),
        ParserCache,
        ValidationCache,
        MaskInternalErrors,
    ]
    if settings.max_query_cost:  # after ValidationCache: prices only valid documents
        extensions.append(lambda: QueryCostLimiter(max_cost=settings.max_query_cost))
    extensions.append(InputGuard)  # no NUL, no megabyte strings reach a resolver
    if not settings.introspection:
        extensions.insert(0, DisableIntrospection)
    schema = ContactplanSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not settings.introspection),
    )
    schema.operations = operation_table(query, mutation, subscription)
    fast_fields(schema)  # plain fields skip strawberry's per-field wrapper (schema/fast_fields.py)
    return schema
