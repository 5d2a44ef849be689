"""Query cost: the estimate (schema/cost.py) and its limit, enforced before execution.

The pricing rules are checked on a small schema of this module (the domain schema keeps
changing); the limit is checked through HTTP on the real app.
"""

from __future__ import annotations

from dataclasses import replace

import strawberry
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from strawberry.extensions import ValidationCache

from contactplan.app import create_app
from contactplan.settings import Settings
from resolvers.paging import DEFAULT_PAGE
from schema.cost import COST_ERROR_CODE, PLAIN_LIST_SIZE, QueryCostLimiter, query_cost
from schema.relay import CountedConnection, Node, NodeID
from tests.conftest import make_gql


@strawberry.type(description="A tag.")
class Tag:
    name: str = strawberry.field(description="Name.")


@strawberry.type(description="An item.")
class Item(Node):
    id: NodeID[int]
    name: str = strawberry.field(description="Name.")
    tags: list[Tag] = strawberry.field(description="A plain list.")
    labels: list[str] = strawberry.field(description="A list of scalars.")


@strawberry.type(description="Items, page by page.")
class ItemConnection(CountedConnection[Item]):
    pass


def _item(i: int) -> Item:
    return Item(id=i, name=f"item{i}", tags=[Tag(name="t")], labels=["a"])


@strawberry.type(description="Root.")
class ItemQuery:
    @strawberry.field(description="Items as a connection.")
    def items(self, first: int | None = None) -> ItemConnection:
        size = DEFAULT_PAGE if first is None else first
        return ItemConnection(
            edges=[strawberry.relay.Edge(cursor=str(i), node=_item(i)) for i in range(size)],
            page_info=strawberry.relay.PageInfo(
                has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None
            ),
            total_count=size,
        )

    @strawberry.field(description="Items as a list with a paging argument.")
    def item_list(self, first: int = DEFAULT_PAGE) -> list[Item]:
        return [_item(i) for i in range(first)]

    @strawberry.field(description="One item.")
    def item(self) -> Item:
        return _item(1)


def _schema(max_cost: int) -> strawberry.Schema:
    return strawberry.Schema(
        query=ItemQuery,
        extensions=[ValidationCache, lambda: QueryCostLimiter(max_cost=max_cost)],
    )


SCHEMA = _schema(10**9)._schema


def cost(document: str, variables: dict | None = None) -> int:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return query_cost(SCHEMA, operation, fragments, variables)


def test_each_field_costs_one() -> None:
    assert cost("{ item { id name } }") == 3


def test_introspection_is_free() -> None:
    assert cost("{ __typename __schema { types { name fields { name } } } }") == 0


def test_list_of_scalars_costs_one() -> None:
    assert cost("{ item { labels } }") == 2


def test_plain_list_of_objects_counts_a_documented_size() -> None:
    assert cost("{ item { tags { name } } }") == 2 + PLAIN_LIST_SIZE * 1


def test_paged_list_multiplies_by_first_literal_or_variable() -> None:
    literal = cost("{ itemList(first: 7) { id name } }")
    variable = cost("query($n: Int!) { itemList(first: $n) { id name } }", {"n": 7})
    assert literal == variable == 1 + 7 * 2


def test_paged_list_without_first_counts_the_default_page() -> None:
    assert cost("{ itemList { id } }") == 1 + DEFAULT_PAGE * 1


def test_connection_edges_do_not_multiply_again() -> None:
    document = "{ items(first: 7) { totalCount edges { cursor node { id name } } } }"
    # items + 7 x (totalCount + edges + cursor + node + id + name)
    assert cost(document) == 1 + 7 * 6
    assert cost("{ items { edges { cursor } } }") == 1 + DEFAULT_PAGE * 2


def test_nested_lists_multiply() -> None:
    document = "{ items(first: 3) { edges { node { tags { name } } } } }"
    assert cost(document) == 1 + 3 * (1 + 1 + 1 + PLAIN_LIST_SIZE * 1)


def test_fragments_and_inline_fragments_count() -> None:
    document = """
        query { itemList(first: 2) { ...F ... on Item { name } } }
        fragment F on Item { id labels }
    """
    assert cost(document) == 1 + 2 * 3


async def test_limit_refuses_before_execution_and_uses_each_request_variables() -> None:
    schema = _schema(max_cost=30)
    query = "query($n: Int!) { itemList(first: $n) { id name } }"
    small = await schema.execute(query, variable_values={"n": 5})
    large = await schema.execute(query, variable_values={"n": 50})
    small_again = await schema.execute(query, variable_values={"n": 5})  # validation cached
    assert small.errors is None and len(small.data["itemList"]) == 5
    assert small_again.errors is None
    assert large.data is None
    (error,) = large.errors
    assert error.message.startswith("Query cost 101 exceeds the limit of 30.")
    assert error.extensions == {"code": COST_ERROR_CODE, "cost": 101, "maxCost": 30}


async def test_invalid_document_gets_validation_errors_not_a_cost() -> None:
    result = await _schema(max_cost=1).execute("{ itemList { nosuchfield } }")
    (error,) = result.errors
    assert "nosuchfield" in error.message


async def test_several_operations_need_an_operation_name() -> None:
    schema = _schema(max_cost=100)
    document = "query A { item { id } } query B { item { name } }"
    ambiguous = await schema.execute(document)
    named = await schema.execute(document, operation_name="B")
    assert ambiguous.data is None
    assert "operation name" in ambiguous.errors[0].message
    assert named.errors is None and named.data == {"item": {"name": "item1"}}


def _aliases(count: int) -> str:
    # each alias: me + databases + 10 x id = 12
    return "{ " + " ".join(f"a{i}: me {{ databases {{ id }} }}" for i in range(count)) + " }"


async def test_costly_query_is_refused_over_http(db, app_settings, accounts) -> None:
    client = make_gql(create_app(replace(app_settings, max_query_cost=40), manage_orm=False))
    async with client.http:
        allowed = await client.execute(_aliases(3), token=accounts.token["USER"])  # 36
        refused = await client.post(
            _aliases(4),  # 48
            token=accounts.token["USER"],
            headers={"Accept": "application/graphql-response+json"},
        )
    assert "errors" not in allowed and allowed["data"]["a2"]["databases"]
    assert refused.status_code == 400  # a request error: nothing was executed
    body = refused.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["message"].startswith("Query cost 48 exceeds the limit of 40.")
    assert error["extensions"] == {"code": COST_ERROR_CODE, "cost": 48, "maxCost": 40}


async def test_zero_turns_the_limit_off(db, app_settings, accounts) -> None:
    client = make_gql(create_app(replace(app_settings, max_query_cost=0), manage_orm=False))
    async with client.http:
        result = await client.execute(_aliases(20), token=accounts.token["USER"])
    assert "errors" not in result


def test_limit_setting_has_a_documented_default() -> None:
    assert Settings().max_query_cost == Settings.from_env({}).max_query_cost == 50_000
    assert Settings.from_env({"MAX_QUERY_COST": "7"}).max_query_cost == 7
    # the default admits a page of 500 objects of 100 fields
    assert Settings().max_query_cost + 1 >= 1 + 500 * 100
