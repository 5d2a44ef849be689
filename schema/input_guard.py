"""Refuses, before execution, text no resolver can store: NUL characters (PostgreSQL text
and jsonb cannot hold them) and strings longer than MAX_STRING_LENGTH characters.

Checks every string in the variables (JSON scalars included) and every string literal of
the document; the request gets one BAD_USER_INPUT error naming where the string is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

MAX_STRING_LENGTH = 65_536  # characters; a segment definition travels as JSON, not String


def _problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    if len(text) > MAX_STRING_LENGTH:
        return f"is longer than {MAX_STRING_LENGTH} characters"
    return None


def variable_problem(value: Any, path: str) -> str | None:
    """Where and what is wrong with the first bad string inside a variable's value."""
    if isinstance(value, str):
        problem = _problem(value)
        return f"{path} {problem}" if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _problem(str(key)) and f"a key in {path} {_problem(str(key))}"
            found = found or variable_problem(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = variable_problem(item, f"{path}[{i}]")
            if found:
                return found
    return None


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.problem: str | None = None

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        problem = _problem(node.value)
        if problem and self.problem is None:
            self.problem = f"A string literal {problem}"


class InputGuard(SchemaExtension):
    """The extension (list it after the validation cache)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors:
            problem = self.problem()
            if problem:
                context.pre_execution_errors = [
                    GraphQLError(f"{problem}.", extensions={"code": "BAD_USER_INPUT"})
                ]
        yield

    def problem(self) -> str | None:
        """What is wrong with the request's strings, if anything."""
        for name, value in (self.execution_context.variables or {}).items():
            found = variable_problem(value, f"Variable ${name}")
            if found:
                return found
        document = self.execution_context.graphql_document
        if document is None:
            return None
        literals = _Literals()
        visit(document, literals)
        return literals.problem
