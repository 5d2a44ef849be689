"""Model instances from full database rows at a fraction of Tortoise's per-field cost.

Tortoise builds every row through `_init_from_db`: one `setattr` and often one
`to_python_value` per column (time zones of datetimes, JSON). For a page of 100 segments
that was 1.3 ms of a request's ~10 ms. asyncpg already returns the Python types our
columns hold, so for a row with exactly the model's columns `FastRows` copies the row into
the instance at once and converts only what needs it: JSON text is decoded, datetimes are
moved into Tortoise's default time zone, any other field with its own conversion (enums)
goes through `to_python_value`. Anything else (a partial `.only()` row, a column named
differently from its field) takes Tortoise's own path. `tests/models/test_fast_rows.py`
holds the result equal to Tortoise's for every model that uses it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Self

from tortoise import fields
from tortoise.timezone import get_default_timezone, get_use_tz

Convert = Callable[[Any], Any]


class FastRows:
    """Mixin (before `Model`) for models read in long lists: full rows become instances
    without per-field setattr calls (see the module docstring)."""

    _meta: Any  # Tortoise's model metadata, from Model

    @classmethod
    def _fast_plan(cls) -> tuple[frozenset[str], list[tuple[str, Convert]]] | None:
        """The model's columns and per-column conversions, or None where the fast path does
        not apply (computed once per model)."""
        cached = cls.__dict__.get("_fast_plan_cache", False)
        if cached is not False:
            return cached
        meta = cls._meta
        plan: tuple[frozenset[str], list[tuple[str, Convert]]] | None = None
        complex_fields = [(key, name, field) for key, name, field in meta.db_complex_fields]
        every = [*meta.db_native_fields, *meta.db_default_fields, *complex_fields]
        if all(key == name for key, name, _ in every):
            conversions = [(key, _conversion(field)) for key, _, field in complex_fields]
            conversions += [(key, field.field_type) for key, _, field in meta.db_default_fields]
            plan = (frozenset(key for key, _, _ in every), conversions)
        cls._fast_plan_cache = plan  # type: ignore[attr-defined]
        return plan

    @classmethod
    def _init_from_db(cls, **kwargs: Any) -> Self:
        plan = cls._fast_plan()
        if plan is None or kwargs.keys() != plan[0]:
            return super()._init_from_db(**kwargs)  # type: ignore[misc]
        self = cls.__new__(cls)
        values = self.__dict__
        values.update(kwargs)
        for key, convert in plan[1]:
            value = values[key]
            if value is not None:
                values[key] = convert(value)
        values["_partial"] = False
        values["_saved_in_db"] = True
        values["_custom_generated_pk"] = cls._meta.db_pk_column not in cls._meta.generated_db_fields
        values["_await_when_save"] = {}
        return self


def _conversion(field: fields.Field) -> Convert:
    """How one column's value becomes the field's Python value."""
    if isinstance(field, fields.JSONField):
        decode = field.to_python_value
        return lambda value: decode(value) if isinstance(value, (str, bytes)) else value
    if isinstance(field, fields.DatetimeField) and get_use_tz():
        zone = get_default_timezone()
        slow = field.to_python_value

        def moved(value: Any) -> Any:
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                return value.astimezone(zone)
            return slow(value)

        return moved
    return field.to_python_value
