"""GraphQL over HTTP, beyond tests/schema/test_http.py: GET details, media types and
status codes per the spec's `application/graphql-response+json` rules, request errors of
every kind, no stack trace in any error, introspection switched off everywhere."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from contactplan.app import create_app
from tests.conftest import make_gql

ME = "{ me { name } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"
LEAK_MARKERS = ("Traceback", 'File "', ".py", "asyncpg", "tortoise", "site-packages")


def _headers(token: str | None = None, accept: str = GRAPHQL_RESPONSE) -> dict[str, str]:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _no_leak(text: str) -> None:
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{marker!r} in response: {text[:500]}"


async def test_get_with_variables_and_operation_name(gql, accounts) -> None:
    document = "query A { me { name } } query B($n: Int!) { users(first: $n) { totalCount } }"
    response = await gql.http.get(
        "/graphql",
        params={"query": document, "operationName": "A", "variables": json.dumps({})},
        headers=_headers(accounts.token["USER"]),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json() == {"data": {"me": {"name": "user"}}}


async def test_get_validation_error_is_400_with_graphql_response_json(gql) -> None:
    response = await gql.http.get("/graphql", params={"query": "{ nosuch }"}, headers=_headers())
    assert response.status_code == 400
    assert "data" not in response.json()


async def test_get_mutation_is_405_whatever_the_accept_header(gql, accounts) -> None:
    for accept in (GRAPHQL_RESPONSE, "application/json"):
        response = await gql.http.get(
            "/graphql",
            params={"query": "mutation { logout { ok } }"},
            headers=_headers(accounts.token["USER"], accept),
        )
        assert response.status_code == 405, accept
        _no_leak(response.text)


@pytest.mark.parametrize("accept", ["application/json", "*/*", ""])
async def test_plain_json_unless_graphql_response_json_is_accepted(gql, accounts, accept) -> None:
    response = await gql.post(ME, token=accounts.token["USER"], headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"query": "{ me { name "}, "syntax error"),
        ({"query": "query($n: Int!) { users(first: $n) { totalCount } }"}, "missing variable"),
        (
            {
                "query": "query($n: Int!) { users(first: $n) { totalCount } }",
                "variables": {"n": "many"},
            },
            "variable of the wrong type",
        ),
        ({"query": "query A { me { name } } query B { me { name } }"}, "which operation"),
        ({"query": "query A { me { name } }", "operationName": "Z"}, "unknown operation"),
        ({"query": "{ me { name } } fragment F on Nope { x }"}, "bad fragment"),
    ],
)
async def test_request_errors_are_400_without_data_and_without_internals(
    gql, accounts, body, why
) -> None:
    response = await gql.http.post("/graphql", json=body, headers=_headers(accounts.token["USER"]))
    assert response.status_code == 400, why
    document = response.json()
    assert "data" not in document, why
    assert document["errors"] and all(e["message"] for e in document["errors"]), why
    _no_leak(response.text)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'[{"query": "{ me { name } }"}]',
        b'{"variables": {}}',
        b'{"query": "{ me { name } }", "variables": "not an object"}',
        b"\xff\xfe",
    ],
)
async def test_malformed_requests_are_4xx_json_errors(gql, body) -> None:
    response = await gql.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert response.json()["errors"][0]["message"]
    _no_leak(response.text)


async def test_field_errors_keep_200_and_partial_data(gql, accounts) -> None:
    response = await gql.post(
        '{ me { name } user(id: "bm90LWEtdXNlcg==") { id } }',
        token=accounts.token["USER"],
        headers={"Accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["me"] == {"name": "user"}
    assert body["errors"][0]["path"] == ["user"]
    _no_leak(response.text)


async def test_introspection_off_refuses_every_introspection_entry(db, app_settings) -> None:
    off = make_gql(create_app(replace(app_settings, introspection=False), manage_orm=False))
    async with off.http:
        for query in (
            "{ __schema { types { name } } }",
            '{ __type(name: "Query") { name } }',
            "query { a: __schema { queryType { name } } }",
        ):
            response = await off.post(query, headers={"Accept": GRAPHQL_RESPONSE})
            assert response.status_code == 400, query
            assert "introspection" in response.text.lower(), query
        typename = await off.execute("{ __typename }")
        page = await off.http.get("/graphql", headers={"Accept": "text/html"})
    assert typename == {"data": {"__typename": "Query"}}  # not introspection
    assert page.status_code == 200  # GraphiQL still loads; it just cannot list the schema


async def test_browser_navigation_gets_graphiql_not_json(gql) -> None:
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = await gql.http.get("/graphql", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


async def test_request_id_header_on_every_kind_of_response(gql, accounts) -> None:
    responses = [
        await gql.post(ME, token=accounts.token["USER"]),
        await gql.post("{ nosuch }"),
        await gql.http.post("/graphql", content=b"{", headers={"Content-Type": "application/json"}),
        await gql.http.get("/graphql", params={"query": "mutation { logout { ok } }"}),
        await gql.http.get("/graphql", headers={"Accept": "text/html"}),
    ]
    for response in responses:
        assert len(response.headers["x-request-id"]) == 32, response.status_code


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_subscription_over_http_is_refused_with_where_to_go(gql, accounts, method) -> None:
    document = 'subscription { runProgress(runId: "UGxhblJ1bjox") { runId } }'
    headers = _headers(accounts.token["ADMIN"])
    if method == "POST":
        response = await gql.post(document, headers=headers)
    else:
        response = await gql.http.get("/graphql", params={"query": document}, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body.get("data") is None
    (error,) = body["errors"]
    assert "WebSocket" in error["message"] and "graphql-transport-ws" in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    _no_leak(response.text)
