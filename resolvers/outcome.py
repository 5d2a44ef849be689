"""What a mutation resolver returns: the object, or the input mistakes that stopped it."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from permissions.errors import InputError, InvalidInput

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """A mutation's result: `value` on success, else `errors` (and nothing changed)."""

    value: T | None = None
    errors: list[InputError] = field(default_factory=list)


async def outcome_of(work: Awaitable[T]) -> Outcome[T]:
    """Run a change; InvalidInput becomes the outcome's errors."""
    try:
        return Outcome(value=await work)
    except InvalidInput as exc:
        return Outcome(errors=exc.errors)
