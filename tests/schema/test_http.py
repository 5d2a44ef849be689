"""GraphQL over HTTP: methods, media types, transport errors, limits, GraphiQL, request ids."""

from __future__ import annotations

import logging
from dataclasses import replace

from tortoise import connections

from contactplan.app import create_app
from tests.conftest import make_gql

ME = "{ me { name } }"


async def test_post_returns_json_data(gql, accounts) -> None:
    response = await gql.post(ME, token=accounts.token["USER"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": {"me": {"name": "user"}}}


async def test_get_runs_queries(gql, accounts) -> None:
    response = await gql.http.get(
        "/graphql",
        params={"query": ME},
        headers={"Authorization": f"Bearer {accounts.token['USER']}", "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["me"]["name"] == "user"


async def test_get_refuses_mutations(gql, accounts) -> None:
    response = await gql.http.get(
        "/graphql",
        params={"query": "mutation { logout { ok } }"},
        headers={"Authorization": f"Bearer {accounts.token['USER']}", "Accept": "application/json"},
    )
    assert response.status_code == 405
    assert "mutation" in response.json()["errors"][0]["message"].lower()
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await _token_works(gql, accounts.token["USER"])  # logout did not happen


async def _token_works(gql, token: str) -> bool:
    return (await gql.execute(ME, token=token)).get("data", {}).get("me") is not None


async def test_graphql_response_json_when_accepted(gql, accounts) -> None:
    response = await gql.post(
        ME,
        token=accounts.token["USER"],
        headers={"Accept": "application/graphql-response+json, application/json;q=0.9"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/graphql-response+json")


async def test_validation_error_is_400_with_graphql_response_json(gql) -> None:
    response = await gql.post(
        "{ nosuchfield }", headers={"Accept": "application/graphql-response+json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert "nosuchfield" in body["errors"][0]["message"]


async def test_validation_error_is_200_without_data_for_plain_json(gql) -> None:
    response = await gql.post("{ nosuchfield }")
    assert response.status_code == 200
    assert "data" not in response.json()


async def test_field_error_keeps_200_with_graphql_response_json(gql) -> None:
    response = await gql.post(ME, headers={"Accept": "application/graphql-response+json"})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"me": None}
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_malformed_json_is_a_clear_400(gql) -> None:
    response = await gql.http.post(
        "/graphql", content=b'{"query": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["message"].startswith("Request body is not valid JSON")
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_unsupported_content_type_is_a_clear_400(gql) -> None:
    response = await gql.http.post(
        "/graphql", content=b"query { me { name } }", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert "content type" in response.json()["errors"][0]["message"].lower()


async def test_non_string_query_is_a_clear_400(gql) -> None:
    response = await gql.http.post("/graphql", json={"query": 42})
    assert response.status_code == 400
    assert "query" in response.json()["errors"][0]["message"]


async def test_oversized_declared_body_is_413(db, app_settings) -> None:
    client = make_gql(create_app(replace(app_settings, max_body_bytes=200), manage_orm=False))
    async with client.http:
        response = await client.post("{ me { name } }" + " " * 500)
    assert response.status_code == 413
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "200 bytes" in error["message"]


async def test_oversized_streamed_body_is_413(db, app_settings) -> None:
    client = make_gql(create_app(replace(app_settings, max_body_bytes=200), manage_orm=False))

    async def chunks():
        yield b'{"query": "'
        for _ in range(10):
            yield b" " * 50
        yield b'{ me { name } }"}'

    async with client.http:
        response = await client.http.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_body_just_under_the_limit_is_accepted(db, app_settings, accounts) -> None:
    client = make_gql(create_app(replace(app_settings, max_body_bytes=400), manage_orm=False))
    async with client.http:
        response = await client.post(ME, token=accounts.token["GUEST"])
    assert response.status_code == 200


async def test_too_deep_query_is_refused(db, app_settings, accounts) -> None:
    client = make_gql(create_app(replace(app_settings, max_query_depth=2), manage_orm=False))
    async with client.http:
        result = await client.execute(
            "{ me { user { profile { name } } } }", token=accounts.token["USER"]
        )
        shallow = await client.execute("{ me { name } }", token=accounts.token["USER"])
    assert "exceeds maximum operation depth" in result["errors"][0]["message"]
    assert "data" not in result
    assert shallow == {"data": {"me": {"name": "user"}}}


async def test_too_many_aliases_are_refused(db, app_settings, accounts) -> None:
    client = make_gql(create_app(replace(app_settings, max_aliases=3), manage_orm=False))
    aliases = " ".join(f"a{i}: me {{ name }}" for i in range(4))
    async with client.http:
        result = await client.execute(f"{{ {aliases} }}", token=accounts.token["USER"])
    assert result["errors"][0]["message"] == "4 aliases found. Allowed: 3"
    assert "data" not in result


async def test_too_many_tokens_are_refused(db, app_settings, accounts) -> None:
    client = make_gql(create_app(replace(app_settings, max_tokens=20), manage_orm=False))
    fields = " ".join(["name"] * 30)
    async with client.http:
        result = await client.execute(f"{{ me {{ {fields} }} }}", token=accounts.token["USER"])
    assert "tokens" in result["errors"][0]["message"]
    assert "data" not in result


async def test_introspection_can_be_switched_off(db, app_settings) -> None:
    on = make_gql(create_app(app_settings, manage_orm=False))
    off = make_gql(create_app(replace(app_settings, introspection=False), manage_orm=False))
    query = "{ __schema { queryType { name } } }"
    async with on.http, off.http:
        allowed = await on.execute(query)
        refused = await off.execute(query)
    assert allowed["data"]["__schema"]["queryType"]["name"] == "Query"
    assert "introspection" in refused["errors"][0]["message"].lower()


async def test_field_suggestions_are_off_without_introspection(db, app_settings) -> None:
    off = make_gql(create_app(replace(app_settings, introspection=False), manage_orm=False))
    async with off.http:
        result = await off.execute("{ mee { name } }")
    assert "Did you mean" not in result["errors"][0]["message"]


async def test_internal_error_is_masked_with_request_id_and_logged(gql, accounts, caplog) -> None:
    conn = connections.get("default")
    await conn.execute_script("ALTER TABLE audit_entry RENAME TO audit_entry_away")
    try:
        with caplog.at_level(logging.ERROR, logger="contactplan.graphql"):
            response = await gql.post(
                "{ auditEntries { edges { node { id } } } }",
                token=accounts.token["ADMIN"],
                headers={"X-Request-ID": "req-masked-1"},
            )
    finally:
        await conn.execute_script("ALTER TABLE audit_entry_away RENAME TO audit_entry")
    body = response.json()
    error = body["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-masked-1"}
    assert "audit_entry" not in response.text  # no SQL or stack trace leaks
    assert body["data"] == {"auditEntries": None}
    logged = [r for r in caplog.records if "req-masked-1" in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the stack trace is in the log


async def test_request_id_is_generated_and_returned(gql) -> None:
    response = await gql.post(ME)
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0


async def test_sane_incoming_request_id_is_kept(gql) -> None:
    response = await gql.post(ME, headers={"X-Request-ID": "abc-123.def:9"})
    assert response.headers["x-request-id"] == "abc-123.def:9"


async def test_insane_incoming_request_id_is_replaced(gql) -> None:
    response = await gql.post(ME, headers={"X-Request-ID": "x" * 65})
    assert response.headers["x-request-id"] != "x" * 65
    response = await gql.post(ME, headers={"X-Request-ID": "bad id;drop"})
    assert response.headers["x-request-id"] != "bad id;drop"


async def test_browser_gets_graphiql_with_local_assets(gql) -> None:
    response = await gql.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "/static/graphiql/" in response.text
    assert "cdn" not in response.text.lower() and "https://" not in response.text


async def test_graphiql_assets_are_served(gql) -> None:
    page = (await gql.http.get("/graphql", headers={"Accept": "text/html"})).text
    assert 'src="/static/graphiql/graphiql-page.js"' in page
    response = await gql.http.get("/static/graphiql/graphiql-page.js")
    assert response.status_code == 200
    assert "Bearer" in response.text


async def test_other_methods_are_refused(gql) -> None:
    response = await gql.http.put("/graphql", json={"query": ME})
    assert response.status_code == 405


async def test_failure_before_execution_is_masked_too(gql, accounts, caplog) -> None:
    conn = connections.get("default")
    await conn.execute_script("ALTER TABLE app_user RENAME TO app_user_away")
    try:
        with caplog.at_level(logging.ERROR, logger="contactplan.graphql_app"):
            response = await gql.post(
                ME, token=accounts.token["USER"], headers={"X-Request-ID": "req-auth-down"}
            )
    finally:
        await conn.execute_script("ALTER TABLE app_user_away RENAME TO app_user")
    assert response.status_code == 500
    assert response.json() == {
        "errors": [
            {
                "message": "Internal server error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-auth-down"},
            }
        ]
    }
    assert any("req-auth-down" in r.getMessage() and r.exc_info for r in caplog.records)
