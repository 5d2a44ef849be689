"""The Strawberry permission classes on a small schema of their own."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from permissions.classes import principal_of, requires
from permissions.names import BUILTIN_PROFILES, Perm
from permissions.principal import Principal


def _principal(profile: str) -> Principal:
    return Principal(
        kind="user",
        user_id=1,
        api_key_id=None,
        name="u",
        profile_name=profile,
        permissions=BUILTIN_PROFILES[profile],
        database_ids=frozenset(),
        all_databases=False,
    )


@dataclass
class Context:
    principal: Principal | None = None
    auth_error: str | None = None


@strawberry.type
class Contact:
    name: str

    @strawberry.field(extensions=requires(Perm.PERSONAL_DATA_READ, fail_silently=True))
    def email(self) -> str | None:
        return "a@example.com"


@strawberry.type
class Query:
    @strawberry.field(extensions=requires(None))
    def whoami(self, info: strawberry.Info) -> str | None:
        return principal_of(info).name

    @strawberry.field(extensions=requires(Perm.USER_MANAGE))
    def secret(self) -> str | None:
        return "s"

    @strawberry.field(extensions=requires(Perm.CONTACT_READ))
    def contacts(self) -> list[Contact] | None:
        return [Contact(name="a"), Contact(name="b")]


SCHEMA = strawberry.Schema(Query)


def run(query: str, context: Context) -> tuple[dict | None, list[tuple[str, str]]]:
    result = SCHEMA.execute_sync(query, context_value=context)
    errors = [(e.extensions["code"], e.message) for e in result.errors or []]
    return result.data, errors


def test_anonymous_caller_gets_the_reason_it_is_unauthenticated() -> None:
    data, errors = run("{ whoami }", Context(auth_error="Token expired."))
    assert data == {"whoami": None}
    assert errors == [("UNAUTHENTICATED", "Token expired.")]


def test_missing_permission_is_forbidden_with_its_name() -> None:
    data, errors = run("{ secret }", Context(_principal("USER")))
    assert data == {"secret": None}
    assert errors == [("FORBIDDEN", "Your profile lacks the permission 'user.manage'.")]
    assert run("{ secret }", Context(_principal("ADMIN"))) == ({"secret": "s"}, [])


def test_fail_silently_nulls_the_field_without_an_error() -> None:
    guest = run("{ contacts { name email } }", Context(_principal("GUEST")))
    assert guest == ({"contacts": [{"name": "a", "email": None}, {"name": "b", "email": None}]}, [])
    power = run("{ contacts { email } }", Context(_principal("POWERUSER")))
    assert power == ({"contacts": [{"email": "a@example.com"}, {"email": "a@example.com"}]}, [])
