"""What a mutation resolver returns: the object, or the input mistakes that stopped it."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, ParamSpec, TypeVar

from permissions.errors import InputError, InvalidInput

T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class Outcome(Generic[T]):
    """A mutation's result: `value` on success, else `errors` (and nothing changed)."""

    value: T | None = None
    errors: list[InputError] = field(default_factory=list)


def with_outcome(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[Outcome[T]]]:
    """Decorate a mutation resolver: its return value, or the InvalidInput it raises,
    becomes an Outcome."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Outcome[T]:
        try:
            value = await fn(*args, **kwargs)
        except InvalidInput as exc:
            return Outcome(errors=exc.errors)
        return Outcome(value=value)

    return wrapper
