"""Query cost: the estimate (schema/cost.py) and its limit, enforced before execution."""

from __future__ import annotations

from dataclasses import replace

import strawberry
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from contactplan.app import create_app
from contactplan.settings import Settings
from resolvers.paging import DEFAULT_PAGE
from schema import build_schema
from schema.cost import COST_ERROR_CODE, PLAIN_LIST_SIZE, query_cost
from schema.relay import CountedConnection, Node, NodeID
from tests.conftest import make_gql

SCHEMA = build_schema(Settings())._schema


def cost(document: str, variables: dict | None = None) -> int:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return query_cost(SCHEMA, operation, fragments, variables)


def test_each_field_costs_one() -> None:
    assert cost("{ me { name kind } }") == 3


def test_introspection_is_free() -> None:
    assert cost("{ __typename __schema { types { name fields { name } } } }") == 0


def test_paged_field_multiplies_by_first_literal_or_variable() -> None:
    literal = cost("{ auditEntries(first: 7) { id action } }")
    variable = cost("query($n: Int!) { auditEntries(first: $n) { id action } }", {"n": 7})
    assert literal == variable == 1 + 7 * 2


def test_paged_field_without_first_counts_the_default_page() -> None:
    assert cost("{ auditEntries { id } }") == 1 + DEFAULT_PAGE * 1


@strawberry.type(description="An item.")
class Item(Node):
    id: NodeID[int]
    name: str = strawberry.field(description="Name.")


@strawberry.type(description="Items, page by page.")
class ItemConnection(CountedConnection[Item]):
    pass


@strawberry.type(description="Root.")
class ItemQuery:
    @strawberry.field(description="Items.")
    def items(self, first: int | None = None) -> ItemConnection:
        raise NotImplementedError


def test_connection_edges_do_not_multiply_again() -> None:
    schema = strawberry.Schema(query=ItemQuery)._schema
    document = "{ items(first: 7) { totalCount edges { cursor node { id name } } } }"
    operation = parse(document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    # items + 7 x (totalCount + edges + cursor + node + id + name)
    assert query_cost(schema, operation, {}) == 1 + 7 * 6
    default = parse("{ items { edges { cursor } } }").definitions[0]
    assert query_cost(schema, default, {}) == 1 + DEFAULT_PAGE * 2  # type: ignore[arg-type]


def test_plain_list_of_objects_counts_a_documented_size() -> None:
    assert cost("{ me { databases { id name } } }") == 2 + PLAIN_LIST_SIZE * 2


def test_list_of_scalars_costs_one() -> None:
    assert cost("{ me { operations } }") == 2


def test_nested_lists_multiply() -> None:
    # 3 users x (databases + 10 x id)
    assert cost("{ users(first: 3) { databases { id } } }") == 1 + 3 * (1 + PLAIN_LIST_SIZE)


def test_fragments_and_inline_fragments_count() -> None:
    document = """
        query { users(first: 2) { ...U ... on User { email } } }
        fragment U on User { id username }
    """
    assert cost(document) == 1 + 2 * 3


async def test_costly_query_is_refused_before_execution(db, app_settings, accounts) -> None:
    client = make_gql(create_app(replace(app_settings, max_query_cost=40), manage_orm=False))
    costly = "{ users(first: 4) { id username email } }"  # 1 + 4 x 3 = 13
    costlier = "{ users(first: 4) { id username email databases { id } } }"  # 1 + 4 x 14
    async with client.http:
        allowed = await client.execute(costly, token=accounts.token["ADMIN"])
        refused = await client.post(
            costlier,
            token=accounts.token["ADMIN"],
            headers={"Accept": "application/graphql-response+json"},
        )
    assert "errors" not in allowed and len(allowed["data"]["users"]) == 4
    assert refused.status_code == 400  # a request error: nothing was executed
    body = refused.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["message"].startswith("Query cost 57 exceeds the limit of 40.")
    assert error["extensions"] == {"code": COST_ERROR_CODE, "cost": 57, "maxCost": 40}


async def test_cost_uses_the_request_variables_despite_the_validation_cache(
    db, app_settings, accounts
) -> None:
    client = make_gql(create_app(replace(app_settings, max_query_cost=10), manage_orm=False))
    query = "query($n: Int!) { auditEntries(first: $n) { id } }"
    async with client.http:
        small = await client.execute(query, {"n": 5}, token=accounts.token["ADMIN"])
        large = await client.execute(query, {"n": 50}, token=accounts.token["ADMIN"])
        small_again = await client.execute(query, {"n": 5}, token=accounts.token["ADMIN"])
    assert "errors" not in small and "errors" not in small_again
    assert large["errors"][0]["extensions"]["cost"] == 1 + 50 * 1


async def test_invalid_document_gets_validation_errors_not_a_cost(db, app_settings) -> None:
    client = make_gql(create_app(replace(app_settings, max_query_cost=1), manage_orm=False))
    async with client.http:
        result = await client.execute("{ users { nosuchfield } }")
    (error,) = result["errors"]
    assert "nosuchfield" in error["message"]


async def test_zero_turns_the_limit_off(db, app_settings, accounts) -> None:
    client = make_gql(create_app(replace(app_settings, max_query_cost=0), manage_orm=False))
    query = "{ users { databases { id } } auditEntries(first: 500) { id } }"
    async with client.http:
        result = await client.execute(query, token=accounts.token["ADMIN"])
    assert "errors" not in result


def test_default_limit_allows_a_page_of_100_with_nested_fields() -> None:
    document = """{ auditEntries(first: 100) { id action objectType objectId at actor
        before after requestId } users { id username databases { id name } } }"""
    assert cost(document) <= Settings().max_query_cost
    assert Settings.from_env({}).max_query_cost == 50_000
    assert Settings.from_env({"MAX_QUERY_COST": "7"}).max_query_cost == 7
