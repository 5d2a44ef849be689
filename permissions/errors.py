"""The errors of the access layer.

`RequestError` subclasses become top-level GraphQL errors with `extensions.code`
(graphql-core copies an exception's `extensions` dict onto the GraphQL error).
`InvalidInput` carries expected user mistakes (`InputError`); resolvers turn them into
`userErrors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class RequestError(Exception):
    """Authentication, authorization, not-found or a bad argument: a top-level error."""

    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code}


class Unauthenticated(RequestError):
    """No valid credentials came with the request."""

    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Authentication required.") -> None:
        super().__init__(message)


class Forbidden(RequestError):
    """The caller is known but its profile lacks the permission."""

    code = "FORBIDDEN"

    def __init__(self, message: str = "You do not have permission to do this.") -> None:
        super().__init__(message)


class NotFound(RequestError):
    """The object does not exist or the caller may not know it exists."""

    code = "NOT_FOUND"

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} not found.")


class BadArgument(RequestError):
    """A query argument out of range (mutations report input mistakes as userErrors)."""

    code = "BAD_USER_INPUT"


@dataclass(frozen=True)
class InputError:
    """An expected mistake in the input: `path` names the input field, `code` the kind."""

    path: tuple[str, ...]
    message: str
    code: str = "INVALID"


class InvalidInput(Exception):
    """Raised with every input mistake found; changes nothing."""

    def __init__(self, errors: list[InputError]) -> None:
        super().__init__("; ".join(f"{'.'.join(e.path)}: {e.message}" for e in errors))
        self.errors = errors
