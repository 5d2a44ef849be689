"""Cheaper resolvers for plain fields: a direct call instead of strawberry's per-field wrapper.

strawberry wraps every resolver (`def name(self) -> str: return self.row.name`) in a chain
built for the general case: an Info object, argument conversion, field extensions folded
with `reduce`, `await_maybe` for async ones. On a list of 100 objects x 5 fields that chain
is most of the CPU of a request. A field with no arguments, no field extensions
(permissions are extensions) and no exception handlers needs none of it: `fast_fields`
gives such fields a resolver that calls the method directly (with an Info only if it asks
for one). Schema extensions (graphql-core middleware) still wrap every field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.types.field import StrawberryField

_BACKREF = "strawberry-definition"


def _fast(
    field: StrawberryField, info_class: type, default_resolver: Callable[[Any, str], Any]
) -> Callable[..., Any] | None:
    """A direct resolver for `field`, or None if it needs strawberry's general path."""
    resolver = field.base_resolver
    if field.arguments or field.extensions:
        return None
    if resolver is None:
        name = field.python_name

        def attribute(source: Any, info: Any) -> Any:
            return default_resolver(source, name)

        attribute._is_default = True  # type: ignore[attr-defined]  # as strawberry marks it
        return attribute
    if resolver.parent_parameter or resolver.root_parameter:
        return None
    function = resolver.wrapped_func
    info_parameter = resolver.info_parameter
    if not resolver.self_parameter:
        return None
    if info_parameter is None:

        def method(source: Any, info: Any) -> Any:
            return function(source)

        return method
    info_name = info_parameter.name

    def method_with_info(source: Any, info: Any) -> Any:
        return function(source, **{info_name: info_class(_raw_info=info, _field=field)})

    return method_with_info


def fast_fields(schema: strawberry.Schema) -> int:
    """Give every eligible object field of `schema` a direct resolver; how many were changed."""
    if schema.schema_converter._exception_handler_specs:  # handlers may apply to any field
        return 0
    info_class, default_resolver = schema.config.info_class, schema.config.default_resolver
    changed = 0
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for graphql_field in graphql_type.fields.values():
            field = graphql_field.extensions.get(_BACKREF)
            if not isinstance(field, StrawberryField) or field.is_subscription:
                continue
            fast = _fast(field, info_class, default_resolver)
            if fast is not None:
                graphql_field.resolve = fast
                changed += 1
    return changed
