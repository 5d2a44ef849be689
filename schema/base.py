"""Shared GraphQL pieces: the Info type resolvers get, common arguments, `UserError`."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from strawberry.relay import GlobalID

from permissions.errors import InputError
from resolvers.context import RequestContext
from resolvers.paging import DEFAULT_PAGE, MAX_PAGE

Info: TypeAlias = strawberry.Info[RequestContext, None]

# Arguments many root fields share.
DatabaseIdArg = Annotated[GlobalID, strawberry.argument(description="A Database id.")]
First = Annotated[
    int | None,
    strawberry.argument(description=f"Page size (1-{MAX_PAGE}, default {DEFAULT_PAGE})."),
]
After = Annotated[
    str | None, strawberry.argument(description="The `endCursor` of the previous page.")
]


@strawberry.type(
    description=(
        "An expected mistake in a mutation's input. Nothing was changed. `code` is a stable "
        "string: INVALID (malformed or out-of-range value), REQUIRED (missing), TOO_LONG, "
        "DUPLICATE (name taken), NOT_FOUND (a referenced object does not exist or is not "
        "visible), CONFLICT (stale `version`, or a concurrent change: the payload carries "
        "the current object), IN_USE (still referenced: segments), PROFILE_IN_USE, "
        "BUILTIN_PROFILE, RESERVED, INVALID_NAME (profiles), SELF (an admin changing their "
        "own account), INVALID_CREDENTIALS, TOO_MANY_ATTEMPTS, NOT_A_USER, INVALID_PASSWORD, "
        "INVALID_USERNAME, PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG (login and passwords), "
        "INVALID_TIMEZONE (databases), INVALID_STATE, NOT_EDITABLE, RUNNING, NO_DELIVERY, "
        "FORBIDDEN (plans and runs). Segment definitions (paths into the condition tree): "
        "WRONG_TYPE, UNEXPECTED_KEY, ONE_KIND, INVALID_CHOICE, EMPTY_GROUP, TOO_DEEP, "
        "TOO_LARGE, UNKNOWN_FIELD, UNKNOWN_EVENT_TYPE, UNKNOWN_PROPERTY, UNKNOWN_OPERATOR, "
        "OPERATOR_NOT_ALLOWED, INVALID_VALUE, NOT_AGGREGABLE, UNKNOWN_SEGMENT, "
        "INVALID_SEGMENT, CYCLE (segment references form a cycle). New codes may be added."
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
