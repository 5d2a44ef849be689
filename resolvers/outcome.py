"""What a mutation resolver returns: the object, or the input mistakes that stopped it."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, ParamSpec, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

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


@asynccontextmanager
async def transaction(on_conflict: InputError) -> AsyncIterator[None]:
    """A transaction whose constraint violation (a concurrent request won a race on a
    unique name, or still uses a row) becomes the input error `on_conflict`."""
    try:
        async with in_transaction():
            yield
    except IntegrityError as exc:
        raise InvalidInput([on_conflict]) from exc
