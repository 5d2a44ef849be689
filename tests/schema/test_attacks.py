"""An attacker through HTTP: another database's ids on every root field and `node(id:)`,
oversized and deeply nested documents, many aliases and tokens, injection strings in every
String argument and input field. Nothing answers 500, nothing of the other database is
seen or changed, the database stays intact.

Root fields and their arguments come from the schema (tests/schema/operation_stubs.py),
so every field a domain module adds is attacked too. Subscriptions have no HTTP transport
and are covered by the permission matrix.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from graphql import GraphQLInterfaceType, GraphQLObjectType
from strawberry.relay import GlobalID
from tortoise import connections
from tortoise.contrib.test import truncate_all_models

from contactplan.settings import Settings
from models import DndPolicy, Event, EventType, Plan, SavedRule, Segment
from models.standard_catalog import create_contact_database
from schema import build_schema
from tests.conftest import Accounts, build_accounts, make_gql
from tests.schema.operation_stubs import MISSING_ID, StubValues, id_positions, stub_request

MARKER = "zzforeignzz"  # in every name of the other database's objects
SCHEMA = build_schema(Settings())
GRAPHQL = SCHEMA._schema
ROOTS = ("Query", "Mutation")
SEGMENT_DEFINITION = {
    "root": {"contact": {"conditions": [{"field": "city", "op": "eq", "value": MARKER}]}}
}
INJECTIONS = [
    "'; DROP TABLE contact; --",
    "$1",
    "\u0000",
    "x" * 100_000,
    "y" * 1_000,
    "Ünïcødé ✓ 🚀 \u202e مرحبا",
    '"}}]) OR 1=1 --',
]


@dataclass
class Foreign:
    """The other database's objects by GraphQL type name, and where the rows live."""

    database_id: int
    ids: dict[str, list[int]] = field(default_factory=dict)


def _node_types() -> set[str]:
    node = GRAPHQL.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    return {
        name
        for name, t in GRAPHQL.type_map.items()
        if isinstance(t, GraphQLObjectType) and node in t.interfaces
    }


async def _make_foreign(accounts: Accounts) -> Foreign:
    """A second database with the standard catalog and one object of each kind in it."""
    database = await create_contact_database(f"Other {MARKER}", description=MARKER)
    admin = accounts.users["ADMIN"]
    conn = connections.get("default")
    contacts = await conn.execute_query_dict(
        "INSERT INTO contact (database_id, external_id, email, first_name, city, attributes,"
        " consent_email, consent_sms, consent_push, created_at, updated_at)"
        " SELECT $1, $2 || g, $2 || g || '@x.example', $2, $2, '{}'::jsonb, true, true, true,"
        " now(), now() FROM generate_series(1, 3) g RETURNING id",
        [database.id, MARKER],
    )
    event_type = await EventType.filter(database_id=database.id).first()
    assert event_type is not None
    event = await Event.create(
        database_id=database.id,
        contact_id=contacts[0]["id"],
        event_type=event_type,
        external_id=MARKER,
        occurred_at=datetime.now(UTC),
        properties={"url": MARKER},
    )
    segment = await Segment.create(
        database=database, name=f"{MARKER} segment", author=admin, definition=SEGMENT_DEFINITION
    )
    rule = await SavedRule.create(
        database=database,
        author=admin,
        name=f"{MARKER} rule",
        kind="preset",
        definition=SEGMENT_DEFINITION["root"],
    )
    dnd = await DndPolicy.create(database=database, name=f"{MARKER} dnd", author=admin)
    plan = await Plan.create(
        database=database,
        segment=segment,
        author=admin,
        name=f"{MARKER} plan",
        state="draft",
        schedule={"kind": "once", "start": "2030-01-01", "time": "00:00"},
        options={},
        consumers=[],
    )
    runs = await conn.execute_query_dict(
        "INSERT INTO plan_run (plan_id, trigger, scheduled_for, as_of, state, funnel,"
        " created_at, heartbeat_at) VALUES ($1, 'manual', now(), now(), 'completed', '{}',"
        " now(), now()) RETURNING id",
        [plan.id],
    )
    fields = await conn.execute_query_dict(
        "SELECT id FROM catalog_field WHERE database_id = $1 LIMIT 3", [database.id]
    )
    run_ids = [r["id"] for r in runs]
    foreign = Foreign(database.id)
    foreign.ids = {
        "Database": [database.id, accounts.other_database.id],
        "Contact": [r["id"] for r in contacts],
        "Event": [event.id],
        "EventType": [event_type.id],
        "Field": [r["id"] for r in fields],
        "Segment": [segment.id],
        "SavedRule": [rule.id],
        "DndPolicy": [dnd.id],
        "Plan": [plan.id],
        "PlanRun": run_ids,
        "Report": run_ids,
    }
    return foreign


async def _snapshot(foreign: Foreign) -> dict[str, str]:
    """A digest of every row of the other database, table by table."""
    conn = connections.get("default")
    tables = await conn.execute_query_dict(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND column_name = 'database_id' ORDER BY table_name"
    )
    digests = {}
    for row in tables:
        name = row["table_name"]  # from the catalog, not from input
        result = await conn.execute_query_dict(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS d,"
            f' count(*) AS n FROM "{name}" t WHERE database_id = $1',
            [foreign.database_id],
        )
        digests[name] = f"{result[0]['n']}:{result[0]['d']}"
    runs = await conn.execute_query_dict(
        "SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) AS d FROM plan_run r"
        " JOIN plan p ON p.id = r.plan_id WHERE p.database_id = $1",
        [foreign.database_id],
    )
    digests["plan_run"] = runs[0]["d"]
    database = await conn.execute_query_dict(
        "SELECT t::text AS row FROM contact_database t WHERE id = $1", [foreign.database_id]
    )
    digests["contact_database"] = database[0]["row"] if database else "missing"
    return digests


@dataclass
class Scene:
    accounts: Accounts
    foreign: Foreign
    before: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def scene(orm: None, app_settings: Settings, test_password_hash: str) -> Scene:
    await truncate_all_models()
    accounts = await build_accounts(app_settings, test_password_hash)
    other = accounts.other_database
    other.name = f"Other {MARKER} plain"
    await other.save()
    foreign = await _make_foreign(accounts)
    return Scene(accounts, foreign, await _snapshot(foreign))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(scene: Scene, app_settings: Settings) -> AsyncIterator:
    from contactplan.app import create_app

    gql = make_gql(create_app(app_settings, manage_orm=False))
    yield gql
    await gql.http.aclose()


async def _token(scene: Scene, profile: str) -> str:
    """A valid token now (a logout or password change may have bumped the version)."""
    user = scene.accounts.users[profile]
    await user.refresh_from_db()
    return scene.accounts.token_for(user)


def _problems(response, document: str) -> list[str]:
    """What is wrong with a response to an attack: a 5xx, an internal error, a leak."""
    problems = []
    if response.status_code >= 500:
        problems.append(f"HTTP {response.status_code}")
    if MARKER in response.text.lower():
        problems.append("shows the other database")
    try:
        body = response.json()
    except ValueError:
        return [*problems, "not JSON"]
    codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors", [])}
    if "INTERNAL_SERVER_ERROR" in codes:
        problems.append("internal error")
    return [f"{p}: {document[:120]}" for p in problems]


def _fields_with_ids() -> list[tuple[str, str]]:
    return [
        (root, name)
        for root in ROOTS
        for name in GRAPHQL.get_type(root).fields  # type: ignore[union-attr]
        if id_positions(GRAPHQL, root, name)
    ]


def _foreign_ids(foreign: Foreign) -> list[str]:
    node_types = _node_types()
    return [
        str(GlobalID(type_name=t, node_id=str(pk)))
        for t, pks in foreign.ids.items()
        if t in node_types
        for pk in pks
    ]


@pytest.mark.parametrize("profile", ["USER", "POWERUSER"])
async def test_other_database_ids_reach_nothing_on_any_root_field(
    client, scene: Scene, profile: str
) -> None:
    token = await _token(scene, profile)
    problems: list[str] = []
    requests = 0
    for root, name in _fields_with_ids():
        for foreign_id in _foreign_ids(scene.foreign):
            stubs = StubValues(ids=lambda _position, i=foreign_id: i, optional=frozenset({"ID"}))
            document, variables = stub_request(GRAPHQL, root, name, stubs, depth=3)
            if root == "Mutation":  # a logout earlier in the loop must not disarm the rest
                token = await _token(scene, profile)
            response = await client.post(document, variables, token=token)
            requests += 1
            problems += _problems(response, f"{document} {variables}")
    assert requests >= len(_foreign_ids(scene.foreign))  # `node` at least
    assert problems == []
    assert await _snapshot(scene.foreign) == scene.before


async def test_node_query_finds_no_foreign_object_of_any_type(client, scene: Scene) -> None:
    token = await _token(scene, "ADMIN")
    token_user = await _token(scene, "USER")
    for foreign_id in _foreign_ids(scene.foreign):
        response = await client.post(
            "query($id: ID!) { node(id: $id) { __typename id } }",
            {"id": foreign_id},
            token=token_user,
        )
        body = response.json()
        assert body["data"] == {"node": None}, (foreign_id, body)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", (foreign_id, body)
    # the ids are real: an administrator (database.manage sees every database) finds them
    found = await client.post(
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": _foreign_ids(scene.foreign)[0]},
        token=token,
    )
    assert found.json()["data"]["node"] is not None


def _text_fields() -> list[tuple[str, str]]:
    """Root fields with a String argument or input field somewhere."""
    probe = StubValues(text="zzprobezz", optional=frozenset({"String"}))
    return [
        (root, name)
        for root in ROOTS
        for name in GRAPHQL.get_type(root).fields  # type: ignore[union-attr]
        if "zzprobezz" in json.dumps(stub_request(GRAPHQL, root, name, probe)[1])
    ]


@pytest.mark.parametrize("injection", INJECTIONS, ids=range(len(INJECTIONS)))
async def test_injection_strings_in_every_text_input(client, scene: Scene, injection: str) -> None:
    main_database = str(GlobalID(type_name="Database", node_id=str(scene.accounts.database.id)))

    def ids(position: str) -> str:
        return main_database if "database" in position.lower() else MISSING_ID

    problems: list[str] = []
    fields = _text_fields()
    assert ("Mutation", "login") in fields
    for root, name in fields:
        stubs = StubValues(ids=ids, text=injection, optional=frozenset({"String"}))
        document, variables = stub_request(GRAPHQL, root, name, stubs, depth=2)
        token = await _token(scene, "ADMIN")
        response = await client.post(document, variables, token=token)
        problems += _problems(response, f"{root}.{name}")
    assert problems == []
    conn = connections.get("default")
    assert (await conn.execute_query_dict("SELECT count(*) AS n FROM contact"))[0]["n"] >= 3
    assert await _snapshot(scene.foreign) == scene.before


async def test_oversized_body_is_413(client, scene: Scene) -> None:
    size = Settings().max_body_bytes + 1
    response = await client.http.post(
        "/graphql",
        content=json.dumps({"query": "{ __typename }", "variables": {"x": "y" * size}}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("deep nesting", "{ me " + "{ user " * 3000 + "}" * 3001),
        ("deep inline fragments", "{ " + "... on Query { " * 3000 + "__typename" + "}" * 3001),
        ("many aliases", "{ " + " ".join(f"a{i}: __typename" for i in range(20_000)) + " }"),
        ("huge token count", "{ " + "__typename " * 100_000 + "}"),
        ("deep list literal", '{ node(id: "' + "x" * 10 + '") { id } ' + "[" * 5000 + "}"),
        (
            "many fragments",
            "{ ...F0 } "
            + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(2000))
            + " fragment F2000 on Query { __typename }",
        ),
    ],
)
async def test_abusive_documents_are_refused_cleanly(client, scene: Scene, name, document) -> None:
    token = await _token(scene, "USER")
    response = await client.post(document, token=token)
    assert response.status_code in (200, 400, 413), name
    body = response.json()
    assert body.get("errors"), name
    assert "data" not in body or body["data"] is None, name
    assert _problems(response, name) == []


async def test_deeply_nested_variables_are_refused_cleanly(client, scene: Scene) -> None:
    token = await _token(scene, "USER")
    nested = "[" * 50_000 + "]" * 50_000
    response = await client.http.post(
        "/graphql",
        content=f'{{"query": "{{ __typename }}", "variables": {{"x": {nested}}}}}',
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert response.status_code < 500
    assert _problems(response, "nested variables") == []


async def test_long_string_variable_is_not_amplified(client, scene: Scene) -> None:
    token = await _token(scene, "USER")
    long_id = "A" * 500_000
    response = await client.post(
        "query($id: ID!) { node(id: $id) { id } }", {"id": long_id}, token=token
    )
    assert response.status_code == 200
    # strawberry's GlobalID error quotes the value: bounded by the body limit, never amplified
    assert len(response.content) < len(long_id) + 2_000
    assert _problems(response, "long id") == []


@pytest.mark.parametrize(
    ("value", "why"),
    [("a\u0000b", "contains a NUL character"), ("z" * 70_000, "is longer than 65536")],
)
async def test_unstorable_strings_are_refused_before_execution(
    client, scene: Scene, value: str, why: str
) -> None:
    variables = {"u": "admin", "p": value}
    as_variable = await client.post(
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        variables,
        headers={"Accept": "application/graphql-response+json"},
    )
    as_literal = await client.post(
        "mutation { login(username: " + json.dumps(value) + ', password: "x") { token } }',
        headers={"Accept": "application/graphql-response+json"},
    )
    for response in (as_variable, as_literal):
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert why in error["message"] and error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$p" in as_variable.json()["errors"][0]["message"]
