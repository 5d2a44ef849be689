"""What the demo data looks like: plausible contacts, consistent orders, funnels and catalog."""

from __future__ import annotations

import asyncpg

from bench.datagen import CUSTOM_FIELDS, REFERENCE_TIME, WINDOW_START
from bench.datagen_rows import TIER_FROM_EUROS, VIP_FROM_EUROS
from bench.datagen_vocab import CITIES
from models.standard_catalog import STANDARD_EVENT_TYPES, STANDARD_FIELDS
from tests.bench.conftest import DEMO_CONTACTS


async def share(pg: asyncpg.Connection, database_id: int, condition: str) -> float:
    """Fraction of the database's contacts matching a fixed SQL condition."""
    return await pg.fetchval(
        f"SELECT avg(({condition})::int) FROM contact WHERE database_id = $1", database_id
    )


async def test_contacts_have_unique_external_ids(demo, pg):
    total, distinct = await pg.fetchrow(
        "SELECT count(*), count(DISTINCT external_id) FROM contact WHERE database_id = $1", demo
    )
    assert total == distinct == DEMO_CONTACTS


async def test_most_but_not_all_contacts_have_addresses(demo, pg):
    assert 0.82 <= await share(pg, demo, "email IS NOT NULL") <= 0.94
    assert 0.65 <= await share(pg, demo, "phone IS NOT NULL") <= 0.79
    assert 0.26 <= await share(pg, demo, "push_token IS NOT NULL") <= 0.40
    assert await share(pg, demo, "email IS NOT NULL AND email NOT LIKE '%_@_%._%'") == 0
    assert await share(pg, demo, "phone IS NOT NULL AND phone !~ '^\\+[0-9]{10,13}$'") == 0


async def test_consent_only_with_an_address_and_for_most_of_them(demo, pg):
    for channel, address in [("email", "email"), ("sms", "phone"), ("push", "push_token")]:
        assert await share(pg, demo, f"consent_{channel} AND {address} IS NULL") == 0
        given = await pg.fetchval(
            f"SELECT avg(consent_{channel}::int) FROM contact "
            f"WHERE database_id = $1 AND {address} IS NOT NULL",
            demo,
        )
        assert 0.45 <= given <= 0.9, channel


async def test_gender_distribution(demo, pg):
    genders = dict(
        await pg.fetch(
            "SELECT coalesce(gender, '-'), count(*) FROM contact WHERE database_id = $1 GROUP BY 1",
            demo,
        )
    )
    assert set(genders) <= {"F", "M", "X", "-"}
    assert 0.46 <= genders["F"] / DEMO_CONTACTS <= 0.58
    assert 0.40 <= genders["M"] / DEMO_CONTACTS <= 0.52
    assert genders.get("X", 0) + genders.get("-", 0) < 0.06 * DEMO_CONTACTS


async def test_ages_are_18_to_90_at_the_reference_time_with_some_leap_day_births(demo, pg):
    youngest, oldest, leap_day, missing = await pg.fetchrow(
        """
        SELECT min(extract(year FROM age($2::date, birth_date))),
               max(extract(year FROM age($2::date, birth_date))),
               count(*) FILTER (WHERE extract(month FROM birth_date) = 2
                                  AND extract(day FROM birth_date) = 29),
               count(*) FILTER (WHERE birth_date IS NULL)
        FROM contact WHERE database_id = $1
        """,
        demo,
        REFERENCE_TIME.date(),
    )
    assert youngest == 18
    assert 80 <= oldest <= 90
    assert leap_day >= 3
    assert 0 < missing < 0.1 * DEMO_CONTACTS


async def test_cities_drill_down_to_one_region_and_country(demo, pg):
    rows = await pg.fetch(
        "SELECT DISTINCT city, region, country, language FROM contact WHERE database_id = $1",
        demo,
    )
    known = {(city, region, country) for city, region, country, _, _ in CITIES}
    assert {(r["city"], r["region"], r["country"]) for r in rows} <= known
    assert len({r["city"] for r in rows}) >= 30
    italians = await share(pg, demo, "country = 'IT'")
    assert 0.75 <= italians <= 0.92


async def test_every_order_has_lines_summing_to_its_value(demo, pg):
    orders, bad = await pg.fetchrow(
        """
        WITH orders AS (
            SELECT e.contact_id, e.occurred_at, e.value, e.properties
            FROM event e JOIN catalog_event_type t ON t.id = e.event_type_id
            WHERE e.database_id = $1 AND t.key = 'purchase'
        ), lines AS (
            SELECT e.contact_id, e.occurred_at, e.value, e.properties
            FROM event e JOIN catalog_event_type t ON t.id = e.event_type_id
            WHERE e.database_id = $1 AND t.key = 'purchase_line'
        ), checked AS (
            SELECT o.value AS order_value, o.properties AS order_props,
                   count(l.*) AS lines,
                   sum(l.value) AS line_total,
                   sum((l.properties ->> 'quantity')::int) AS quantity,
                   bool_and(l.contact_id = o.contact_id AND l.occurred_at = o.occurred_at)
                       AS same_contact_and_time,
                   bool_and(l.value = (l.properties ->> 'quantity')::int
                                      * (l.properties ->> 'price')::numeric) AS line_amounts
            FROM orders o
            LEFT JOIN lines l ON l.properties ->> 'order_id' = o.properties ->> 'order_id'
            GROUP BY o.value, o.properties
        )
        SELECT count(*),
               count(*) FILTER (WHERE lines NOT BETWEEN 1 AND 5
                                   OR line_total <> order_value
                                   OR quantity <> (order_props ->> 'items')::int
                                   OR NOT same_contact_and_time
                                   OR NOT line_amounts)
        FROM checked
        """,
        demo,
    )
    assert orders > 0.5 * DEMO_CONTACTS
    assert bad == 0


async def test_order_ids_are_unique_and_every_line_has_its_order(demo, pg):
    orders, distinct, orphans = await pg.fetchrow(
        """
        SELECT count(*) FILTER (WHERE t.key = 'purchase'),
               count(DISTINCT e.properties ->> 'order_id') FILTER (WHERE t.key = 'purchase'),
               count(*) FILTER (WHERE t.key = 'purchase_line' AND NOT EXISTS (
                   SELECT 1 FROM event o
                   WHERE o.database_id = e.database_id AND o.event_type_id = (
                       SELECT id FROM catalog_event_type
                       WHERE database_id = $1 AND key = 'purchase')
                   AND o.properties ->> 'order_id' = e.properties ->> 'order_id'))
        FROM event e JOIN catalog_event_type t ON t.id = e.event_type_id
        WHERE e.database_id = $1
        """,
        demo,
    )
    assert orders == distinct > 0
    assert orphans == 0


async def test_purchases_are_skewed_towards_a_minority_of_heavy_buyers(demo, pg):
    buyers, top_share = await pg.fetchrow(
        """
        WITH spend AS (
            SELECT e.contact_id, sum(e.value) AS total
            FROM event e JOIN catalog_event_type t ON t.id = e.event_type_id
            WHERE e.database_id = $1 AND t.key = 'purchase' GROUP BY 1
        ), ranked AS (
            SELECT total, ntile(10) OVER (ORDER BY total DESC) AS decile FROM spend
        )
        SELECT count(*), sum(total) FILTER (WHERE decile = 1) / sum(total) FROM ranked
        """,
        demo,
    )
    assert 0.25 * DEMO_CONTACTS <= buyers <= 0.6 * DEMO_CONTACTS
    assert top_share >= 0.3  # the top 10% of buyers bring at least 30% of the revenue


async def test_every_standard_event_type_occurs_about_ten_times_per_contact(demo, pg):
    counts = dict(
        await pg.fetch(
            """
            SELECT t.key, count(e.id) FROM catalog_event_type t
            LEFT JOIN event e ON e.event_type_id = t.id
            WHERE t.database_id = $1 GROUP BY t.key
            """,
            demo,
        )
    )
    assert set(counts) == {key for key, *_ in STANDARD_EVENT_TYPES}
    assert all(counts.values()), counts
    assert 8.5 <= sum(counts.values()) / DEMO_CONTACTS <= 11.5


async def test_events_reference_their_own_database_and_lie_in_the_window(demo, pg):
    bad_refs, before_window, after_reference, before_contact = await pg.fetchrow(
        """
        SELECT count(*) FILTER (WHERE t.database_id <> e.database_id
                                   OR c.database_id <> e.database_id),
               count(*) FILTER (WHERE e.occurred_at < $2),
               count(*) FILTER (WHERE e.occurred_at >= $3),
               count(*) FILTER (WHERE e.occurred_at < c.created_at)
        FROM event e
        JOIN contact c ON c.id = e.contact_id
        JOIN catalog_event_type t ON t.id = e.event_type_id
        WHERE e.database_id = $1
        """,
        demo,
        WINDOW_START,
        REFERENCE_TIME,
    )
    assert (bad_refs, before_window, after_reference, before_contact) == (0, 0, 0, 0)


async def test_messages_go_to_consenting_contacts_and_follow_the_funnel(demo, pg):
    unconsented = await pg.fetchval(
        """
        SELECT count(*) FROM event e
        JOIN contact c ON c.id = e.contact_id
        JOIN catalog_event_type t ON t.id = e.event_type_id
        WHERE e.database_id = $1 AND (
            (t.key LIKE 'email\\_%' AND NOT c.consent_email)
            OR (t.key LIKE 'sms\\_%' AND NOT c.consent_sms)
            OR (t.key LIKE 'push\\_%' AND NOT c.consent_push))
        """,
        demo,
    )
    assert unconsented == 0
    # Every later step has the sent message (same contact and delivery) before it.
    out_of_funnel = await pg.fetchval(
        """
        SELECT count(*) FROM event e
        JOIN catalog_event_type t ON t.id = e.event_type_id
        WHERE e.database_id = $1
          AND t.key IN ('email_delivered', 'email_opened', 'email_clicked', 'email_bounced',
                        'sms_delivered', 'push_opened')
          AND NOT EXISTS (
            SELECT 1 FROM event s JOIN catalog_event_type st ON st.id = s.event_type_id
            WHERE s.contact_id = e.contact_id
              AND st.key = split_part(t.key, '_', 1) || '_sent'
              AND s.properties ->> 'delivery_id' = e.properties ->> 'delivery_id'
              AND s.occurred_at < e.occurred_at)
        """,
        demo,
    )
    assert out_of_funnel == 0
    clicks = await pg.fetch(
        """
        SELECT e.properties FROM event e JOIN catalog_event_type t ON t.id = e.event_type_id
        WHERE e.database_id = $1 AND t.key = 'email_clicked'
        """,
        demo,
    )
    assert clicks
    assert all('"link_category"' in c["properties"] and '"subject"' in c["properties"]
               for c in clicks)  # fmt: skip


async def test_custom_attribute_fields_are_in_the_catalog_after_the_standard_ones(demo, pg):
    rows = await pg.fetch(
        'SELECT key, data_type, storage, "column", enum_values, position FROM catalog_field '
        "WHERE database_id = $1 ORDER BY position",
        demo,
    )
    keys = [r["key"] for r in rows]
    assert keys == [key for key, *_ in STANDARD_FIELDS] + [key for key, *_ in CUSTOM_FIELDS]
    custom = {r["key"]: r for r in rows if r["storage"] == "attribute"}
    assert {key: str(t) for key, _, t, *_ in CUSTOM_FIELDS} == {
        key: r["data_type"] for key, r in custom.items()
    }
    assert all(r["column"] is None for r in custom.values())
    assert custom["loyalty_tier"]["enum_values"] == '["bronze", "silver", "gold", "platinum"]'


# For each catalog data type: SQL that is true when a JSONB value `v` has that type.
TYPE_CHECKS = {
    "enum": "jsonb_typeof(v) = 'string' AND f.enum_values ? (v #>> '{}')",
    "integer": "jsonb_typeof(v) = 'number' AND (v #>> '{}') ~ '^-?[0-9]+$'",
    "decimal": "jsonb_typeof(v) = 'number'",
    "boolean": "jsonb_typeof(v) = 'boolean'",
    "datetime": "jsonb_typeof(v) = 'string' "
    "AND (v #>> '{}') ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\+00:00$'",
    "date": "jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^\\d{4}-\\d\\d-\\d\\d$'",
    "string": "jsonb_typeof(v) = 'string'",
    "string_list": "jsonb_typeof(v) = 'array' AND NOT EXISTS ("
    "SELECT 1 FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string')",
}


async def test_attribute_values_have_the_catalog_types(demo, pg):
    checks = " ".join(f"WHEN '{t}' THEN {sql}" for t, sql in TYPE_CHECKS.items())
    per_field = await pg.fetch(
        f"""
        SELECT f.key, count(*) AS present,
               count(*) FILTER (WHERE NOT (CASE f.data_type {checks} ELSE false END)) AS wrong
        FROM contact c
        CROSS JOIN LATERAL jsonb_each(c.attributes) a(key, v)
        LEFT JOIN catalog_field f
               ON f.database_id = c.database_id AND f.key = a.key AND f.storage = 'attribute'
        WHERE c.database_id = $1
        GROUP BY f.key
        """,
        demo,
    )
    by_key = {r["key"]: r for r in per_field}
    assert None not in by_key, "an attribute key outside the catalog"
    assert set(by_key) == {key for key, *_ in CUSTOM_FIELDS}
    assert {k: r["wrong"] for k, r in by_key.items()} == dict.fromkeys(by_key, 0)
    # Datetimes and dates parse, and lie before the reference time.
    latest_seen, latest_purchase = await pg.fetchrow(
        "SELECT max((attributes ->> 'last_seen')::timestamptz), "
        "max((attributes ->> 'first_purchase_date')::date) FROM contact WHERE database_id = $1",
        demo,
    )
    assert WINDOW_START < latest_seen < REFERENCE_TIME
    assert latest_purchase < REFERENCE_TIME.date()


async def test_attributes_agree_with_the_events(demo, pg):
    disagreements = await pg.fetchval(
        """
        WITH spend AS (
            SELECT e.contact_id, sum(e.value) AS total, min(e.occurred_at) AS first_at
            FROM event e JOIN catalog_event_type t ON t.id = e.event_type_id
            WHERE e.database_id = $1 AND t.key = 'purchase' GROUP BY 1
        )
        SELECT count(*) FROM contact c LEFT JOIN spend s ON s.contact_id = c.id
        WHERE c.database_id = $1 AND (
            (c.attributes ->> 'lifetime_value')::numeric IS DISTINCT FROM s.total
            OR (c.attributes ->> 'first_purchase_date')::date
               IS DISTINCT FROM (s.first_at AT TIME ZONE 'UTC')::date
            OR (s.total >= $2 AND NOT (c.attributes ->> 'vip')::boolean)
            OR (s.total IS NOT NULL AND NOT c.attributes ? 'loyalty_tier')
            OR (c.attributes ? 'loyalty_tier' AND c.attributes ->> 'loyalty_tier' <> CASE
                WHEN coalesce(s.total, 0) >= $5 THEN 'platinum'
                WHEN coalesce(s.total, 0) >= $4 THEN 'gold'
                WHEN coalesce(s.total, 0) >= $3 THEN 'silver'
                ELSE 'bronze' END))
        """,
        demo,
        VIP_FROM_EUROS,
        *TIER_FROM_EUROS,
    )
    assert disagreements == 0


async def test_distinct_counts_are_filled_for_every_field(demo, pg):
    counts = dict(
        await pg.fetch("SELECT key, distinct_count FROM catalog_field WHERE database_id = $1", demo)
    )
    assert None not in counts.values()
    assert counts["external_id"] == DEMO_CONTACTS
    assert counts["consent_email"] == 2
    assert counts["gender"] == 3
    assert counts["vip"] == 2
    # The sample is every contact here, so the estimates are exact.
    exact = await pg.fetchrow(
        """
        SELECT count(DISTINCT city) AS city, count(DISTINCT birth_date) AS birth_date,
               count(DISTINCT attributes ->> 'loyalty_tier') AS loyalty_tier,
               count(DISTINCT attributes ->> 'last_seen') AS last_seen,
               (SELECT count(DISTINCT i) FROM contact,
                       jsonb_array_elements_text(attributes -> 'interests') i
                WHERE database_id = $1) AS interests
        FROM contact WHERE database_id = $1
        """,
        demo,
    )
    expected = dict(exact.items())
    assert {key: counts[key] for key in expected} == expected
    assert 3 <= counts["loyalty_tier"] <= 4
    assert 5 <= counts["interests"] <= 8
