"""The values a field (or an event property) takes, for UI pickers and drill-downs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segmentation.catalog import Catalog
from segmentation.compile import field_sql, property_sql
from segmentation.operators import like_escape
from segmentation.params import Params
from segmentation.run import connection


@dataclass(frozen=True)
class FieldValue:
    """A distinct value and how many contacts (or events) have it."""

    value: Any
    count: int


async def field_values(
    catalog: Catalog,
    field_key: str,
    *,
    search: str | None = None,
    parent_value: Any = None,
    limit: int = 50,
    conn: Any = None,
) -> list[FieldValue]:
    """Most frequent values of a contact field, optionally containing `search` (any case)
    and, for a drill-down field, under `parent_value` of its parent field."""
    f = catalog.fields.get(field_key)
    if f is None:
        raise KeyError(f"unknown field {field_key!r}")
    p = Params()
    where = [f"c.database_id = {p.add(catalog.database_id, 'integer')}"]
    expr = field_sql(f, p)
    source = "contact c"
    if f.data_type == "string_list":
        source = f"contact c CROSS JOIN LATERAL jsonb_array_elements_text({expr}) AS v(item)"
        expr = "v.item"
    where.append(f"{expr} IS NOT NULL")
    if search:
        where.append(f"({expr})::text ILIKE {p.add('%' + like_escape(search) + '%', 'text')}")
    if parent_value is not None:
        parent = catalog.fields.get(f.parent_key or "")
        if parent is None:
            raise KeyError(f"field {field_key!r} has no parent field")
        where.append(f"({field_sql(parent, p)})::text = {p.add(str(parent_value), 'text')}")
    sql = (
        f"SELECT {expr} AS value, count(*) AS n FROM {source} WHERE {' AND '.join(where)}"
        f" GROUP BY 1 ORDER BY n DESC, 1 LIMIT {p.add(max(1, min(limit, 1000)), 'integer')}"
    )
    async with connection(conn) as c:
        rows = await c.fetch(sql, *p.values)
    return [FieldValue(r["value"], r["n"]) for r in rows]


async def event_property_values(
    catalog: Catalog,
    event_type: str,
    property_key: str,
    *,
    search: str | None = None,
    limit: int = 50,
    conn: Any = None,
) -> list[FieldValue]:
    """Most frequent values of an event type's property (e.g. link categories, products)."""
    et = catalog.event_types.get(event_type)
    if et is None:
        raise KeyError(f"unknown event type {event_type!r}")
    if property_key not in et.properties:
        raise KeyError(f"unknown property {property_key!r} of {event_type!r}")
    p = Params()
    expr, _ = property_sql(et, property_key, p)
    where = [f"e.event_type_id = {p.add(et.id, 'integer')}", f"{expr} IS NOT NULL"]
    if search:
        where.append(f"({expr})::text ILIKE {p.add('%' + like_escape(search) + '%', 'text')}")
    sql = (
        f"SELECT {expr} AS value, count(*) AS n FROM event e WHERE {' AND '.join(where)}"
        f" GROUP BY 1 ORDER BY n DESC, 1 LIMIT {p.add(max(1, min(limit, 1000)), 'integer')}"
    )
    async with connection(conn) as c:
        rows = await c.fetch(sql, *p.values)
    return [FieldValue(r["value"], r["n"]) for r in rows]


async def refresh_distinct_counts(catalog: Catalog, *, conn: Any = None) -> dict[str, int]:
    """Recount each field's distinct values into catalog_field.distinct_count (input types)."""
    counts: dict[str, int] = {}
    async with connection(conn) as c:
        for f in catalog.fields.values():
            p = Params()
            db = p.add(catalog.database_id, "integer")
            expr = field_sql(f, p)
            if f.data_type == "string_list":
                sql = (
                    f"SELECT count(DISTINCT v.item) FROM contact c CROSS JOIN LATERAL"
                    f" jsonb_array_elements_text({expr}) AS v(item) WHERE c.database_id = {db}"
                )
            else:
                sql = f"SELECT count(DISTINCT {expr}) FROM contact c WHERE c.database_id = {db}"
            counts[f.key] = await c.fetchval(sql, *p.values)
            await c.execute(
                "UPDATE catalog_field SET distinct_count = $1 WHERE database_id = $2 AND key = $3",
                counts[f.key],
                catalog.database_id,
                f.key,
            )
    return counts
