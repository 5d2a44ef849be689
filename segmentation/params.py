"""Bind parameters: every value of a compiled statement is `$n`, numbered here."""

from __future__ import annotations

from typing import Any


class Params:
    """Collects bind values; `add` returns the `$n::type` placeholder for one value."""

    def __init__(self, start: list[Any] | None = None) -> None:
        self.values: list[Any] = list(start or [])

    def add(self, value: Any, pg_type: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{pg_type}"
