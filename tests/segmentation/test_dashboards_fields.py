"""Field distribution: top values of categorical fields, histograms of numbers and dates."""

from __future__ import annotations

import pytest

from models import DataType, Field, FieldStorage
from segmentation.dashboards import DashboardError, DashboardOptions, PanelKind, compute_dashboard
from tests.segmentation.dashboards_data import (
    add_contact,
    day,
    new_database,
    summary,
    utc,
    values,
)

pytestmark = pytest.mark.usefixtures("db")


async def attribute_field(database, key: str, data_type: DataType) -> None:
    await Field.create(
        database=database, key=key, label=key.title(), data_type=data_type,
        storage=FieldStorage.ATTRIBUTE,
    )  # fmt: skip


async def field_panel(database, key: str, **options):
    options = DashboardOptions(field_keys=(key,), **options)
    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1), options=options)
    return dashboard.panel(f"field:{key}")


async def test_categorical_attribute_shows_top_values_other_and_unknown():
    database = await new_database()
    await attribute_field(database, "tier", DataType.ENUM)
    for tier in ["gold"] * 3 + ["silver"] * 2 + ["bronze"]:
        await add_contact(database, attributes={"tier": tier})
    await add_contact(database)

    panel = await field_panel(database, "tier", top_n=2)

    assert (panel.kind, panel.title) == (PanelKind.BAR, "Tier")
    assert [(p.label, p.value) for p in panel.series[0].points] == [
        ("gold", 3), ("silver", 2), ("other", 1), ("unknown", 1),
    ]  # fmt: skip


async def test_a_list_field_counts_each_value_and_empty_lists_as_unknown():
    database = await new_database()
    await attribute_field(database, "interests", DataType.STRING_LIST)
    for interests in (["golf", "tennis"], ["golf"], [], "not a list"):
        await add_contact(database, attributes={"interests": interests})
    await add_contact(database)

    panel = await field_panel(database, "interests")

    assert values(panel) == {"golf": 2, "tennis": 1, "unknown": 3}


async def test_a_boolean_column_field():
    database = await new_database()
    for consent in (True, True, False):
        await add_contact(database, consent_email=consent)

    assert values(await field_panel(database, "consent_email")) == {"true": 2, "false": 1}


async def test_integer_histogram_has_whole_number_bins_and_counts_bad_values_as_unknown():
    database = await new_database()
    await attribute_field(database, "points", DataType.INTEGER)
    for points in (0, 3, 7, 12, 19, 25, "many"):
        await add_contact(database, attributes={"points": points})
    await add_contact(database)

    panel = await field_panel(database, "points")

    assert panel.kind is PanelKind.HISTOGRAM
    assert values(panel) == {
        "0-2": 1, "3-5": 1, "6-8": 1, "9-11": 0, "12-14": 1, "15-17": 0, "18-20": 1,
        "21-23": 0, "24-26": 1,
    }  # fmt: skip
    assert summary(panel) == {"unknown": 2}


async def test_decimal_histogram_uses_round_bin_widths():
    database = await new_database()
    await attribute_field(database, "score", DataType.DECIMAL)
    for score in (0.5, 1.25, 9.99):
        await add_contact(database, attributes={"score": score})

    panel = await field_panel(database, "score", histogram_bins=4)

    assert values(panel) == {"0-2.5": 2, "2.5-5": 0, "5-7.5": 0, "7.5-10": 1}


async def test_a_date_column_is_binned_by_decades_when_years_are_too_many():
    database = await new_database()
    for born in ("1950-03-01", "1985-07-14", "1999-12-31", "2001-01-01"):
        await add_contact(database, birth_date=day(born))
    await add_contact(database)

    panel = await field_panel(database, "birth_date")

    assert values(panel) == {
        "1950..1959": 1, "1960..1969": 0, "1970..1979": 0, "1980..1989": 1, "1990..1999": 1,
        "2000..2009": 1,
    }  # fmt: skip
    assert summary(panel) == {"unknown": 1}


async def test_datetime_attribute_is_binned_by_local_day():
    database = await new_database(timezone="Europe/Rome")
    await attribute_field(database, "last_login", DataType.DATETIME)
    for at in (
        "2025-01-01T23:30:00+00:00",
        "2025-01-05T10:00:00Z",
        "yesterday",
        "2025-02-30T10:00Z",
    ):
        await add_contact(database, attributes={"last_login": at})

    panel = await field_panel(database, "last_login")

    assert values(panel) == {"2025-01-02": 1, "2025-01-03": 0, "2025-01-04": 0, "2025-01-05": 1}
    assert summary(panel) == {"unknown": 2}


async def test_date_attribute_by_months():
    database = await new_database()
    await attribute_field(database, "joined", DataType.DATE)
    for joined in (
        "2024-01-15",
        "2024-02-01",
        "2024-02-29",
        "2024-06-30",
        "2024-13-01",
        "2023-02-29",
        "2024-04-31x",
        "0000-01-01",
    ):
        await add_contact(database, attributes={"joined": joined})

    panel = await field_panel(database, "joined")

    assert values(panel) == {
        "2024-01": 1, "2024-02": 2, "2024-03": 0, "2024-04": 0, "2024-05": 0, "2024-06": 1,
    }  # fmt: skip
    assert summary(panel) == {"unknown": 4}


async def test_a_field_with_no_values_has_an_empty_histogram():
    database = await new_database()
    await attribute_field(database, "points", DataType.INTEGER)
    await add_contact(database)

    panel = await field_panel(database, "points")

    assert panel.series[0].points == ()
    assert summary(panel) == {"unknown": 1}


async def test_an_unknown_field_is_named_by_its_position():
    database = await new_database()
    options = DashboardOptions(field_keys=("country", "shoe_size"))

    with pytest.raises(DashboardError) as error:
        await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1), options=options)

    assert (error.value.path, error.value.code) == ("fieldKeys[1]", "not_found")
    assert "shoe_size" in error.value.message


async def test_a_segment_field_distribution_counts_members_only():
    database = await new_database()
    await attribute_field(database, "points", DataType.INTEGER)
    for points, country in ((1, "IT"), (2, "IT"), (50, "FR")):
        await add_contact(database, country=country, attributes={"points": points})
    members = (
        "SELECT id AS contact_id FROM contact WHERE database_id = $1::int AND country = $2::text",
        [database.id, "IT"],
    )
    options = DashboardOptions(field_keys=("points", "country"))

    dashboard = await compute_dashboard(
        database.id, members, as_of=utc(2025, 3, 1), options=options
    )

    assert values(dashboard.panel("field:points")) == {"1": 1, "2": 1}
    assert values(dashboard.panel("field:country")) == {"IT": 2}
