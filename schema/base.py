"""Shared GraphQL pieces: the Info type resolvers get, `UserError`, ids."""

from __future__ import annotations

from typing import TypeAlias

import strawberry

from permissions.errors import InputError
from resolvers.context import RequestContext

Info: TypeAlias = strawberry.Info[RequestContext, None]


@strawberry.type(
    description=(
        "An expected mistake in a mutation's input. Nothing was changed. "
        "Codes are stable strings such as INVALID, REQUIRED, DUPLICATE, NOT_FOUND, "
        "TOO_LONG, INVALID_CREDENTIALS, TOO_MANY_ATTEMPTS, PASSWORD_TOO_SHORT, "
        "BUILTIN_PROFILE, PROFILE_IN_USE."
    )
)
class UserError:
    path: list[str] = strawberry.field(
        description="Where in the input the mistake is (input field names), empty if general."
    )
    message: str = strawberry.field(description="What is wrong, for people.")
    code: str = strawberry.field(description="What is wrong, for programs.")

    @classmethod
    def from_input_error(cls, error: InputError) -> UserError:
        """The GraphQL form of a resolver's InputError."""
        return cls(path=list(error.path), message=error.message, code=error.code)


def user_errors(errors: list[InputError]) -> list[UserError]:
    """Resolver input errors as GraphQL `userErrors`."""
    return [UserError.from_input_error(e) for e in errors]


def gid(value: int | None) -> strawberry.ID | None:
    """A model id as a GraphQL ID."""
    return None if value is None else strawberry.ID(str(value))
