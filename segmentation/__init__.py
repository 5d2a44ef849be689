"""Condition tree -> validated tree -> one parameterized PostgreSQL statement.

Pipeline: `prepare_segment` (parse + validate against the catalog, resolving referenced
segments) -> `compile_definition` -> run helpers (`count_members`, `preview_members`,
`stream_member_ids`, `insert_members_sql`, `explain_contact`). See README.md for the
JSON definition format.
"""

from segmentation.catalog import (
    INPUT_TYPE_THRESHOLDS,
    Catalog,
    EventTypeInfo,
    FieldInfo,
    PropertyInfo,
    input_type_for,
    load_catalog,
)
from segmentation.compile import CompiledSegment, compile_definition
from segmentation.errors import InvalidSegment, SegmentError
from segmentation.explain import Explanation, NodeTruth, explain_contact
from segmentation.field_values import (
    FieldValue,
    event_property_values,
    field_values,
    refresh_distinct_counts,
)
from segmentation.operators import OPERATORS, operators_for
from segmentation.parse import parse_definition
from segmentation.run import (
    MemberPage,
    compile_for_database,
    count_definition,
    count_members,
    insert_members_sql,
    member_subquery,
    preview_members,
    stream_member_ids,
)
from segmentation.tree import Definition
from segmentation.validate import (
    ResolveSegment,
    ValidSegment,
    check_definition,
    prepare_segment,
    validate_definition,
)
from segmentation.values import EvalContext

__all__ = [
    "INPUT_TYPE_THRESHOLDS",
    "OPERATORS",
    "Catalog",
    "CompiledSegment",
    "Definition",
    "EvalContext",
    "EventTypeInfo",
    "Explanation",
    "FieldInfo",
    "FieldValue",
    "InvalidSegment",
    "MemberPage",
    "NodeTruth",
    "PropertyInfo",
    "ResolveSegment",
    "SegmentError",
    "ValidSegment",
    "check_definition",
    "compile_definition",
    "compile_for_database",
    "count_definition",
    "count_members",
    "event_property_values",
    "explain_contact",
    "field_values",
    "input_type_for",
    "insert_members_sql",
    "load_catalog",
    "member_subquery",
    "operators_for",
    "parse_definition",
    "prepare_segment",
    "preview_members",
    "refresh_distinct_counts",
    "stream_member_ids",
    "validate_definition",
]
