"""What else a query asks of the object a field belongs to (its sibling fields).

Fields of one object resolve concurrently; a field whose value depends on a sibling's side
effect (`Segment.lastCount` after `count`) asks here whether that sibling is in the query.
Fragments are followed, `@skip` / `@include` honoured; type conditions are not checked
(the response key along the path already names the object).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    get_argument_values,
    get_directive_values,
)
from graphql.execution.values import VariableValues

from schema.base import Info


def _variables(raw: Any) -> VariableValues:
    """The operation's variables in graphql-core's form (Strawberry may hand a plain dict)."""
    values = raw.variable_values
    return values if isinstance(values, VariableValues) else VariableValues({}, dict(values or {}))


def _included(node: Any, variables: Any) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (skip and skip["if"]) and not (include and not include["if"])


def _fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, Any], variables: VariableValues
) -> Iterator[FieldNode]:
    for node in selection_set.selections if selection_set else ():
        if not _included(node, variables):
            continue
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _fields(node.selection_set, fragments, variables)
        elif isinstance(node, FragmentSpreadNode):
            fragment = fragments.get(node.name.value)
            yield from _fields(fragment.selection_set if fragment else None, fragments, variables)


def parent_keys(info: Info) -> tuple[str, ...]:
    """Response keys from the root to the object the current field belongs to."""
    keys: list[str] = []
    path = info._raw_info.path.prev
    while path is not None:
        if isinstance(path.key, str):
            keys.append(path.key)
        path = path.prev
    return tuple(reversed(keys))


def sibling_fields(info: Info) -> list[FieldNode]:
    """The field nodes the query selects on the current field's object (itself included)."""
    raw = info._raw_info
    fragments, variables = raw.fragments, _variables(raw)
    nodes: list[Any] = [raw.operation]
    for key in parent_keys(info):
        nodes = [
            f
            for n in nodes
            for f in _fields(n.selection_set, fragments, variables)
            if (f.alias or f.name).value == key
        ]
    return [f for n in nodes for f in _fields(n.selection_set, fragments, variables)]


def sibling_arguments(info: Info, name: str) -> list[dict[str, Any]]:
    """The coerced arguments of every sibling field called `name` (one dict per use)."""
    raw = info._raw_info
    definition = raw.parent_type.fields[name]
    return [
        get_argument_values(definition, node, _variables(raw))
        for node in sibling_fields(info)
        if node.name.value == name
    ]
