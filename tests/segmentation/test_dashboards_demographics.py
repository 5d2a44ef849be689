"""Demographic panels against hand-counted contacts: ages, gender, geography, contactability."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from segmentation.dashboards import (
    DashboardError,
    DashboardOptions,
    Grain,
    PanelKind,
    compute_dashboard,
)
from tests.segmentation.dashboards_data import add_contact, day, new_database, summary, utc, values

pytestmark = pytest.mark.usefixtures("db")


async def test_age_bands_count_whole_years_at_the_as_of_day():
    database = await new_database()
    await add_contact(database, birth_date=day("2007-02-28"))  # 18 on the as-of day
    await add_contact(database, birth_date=day("2007-03-01"))  # 18 tomorrow: still 17
    await add_contact(database, birth_date=day("2000-02-29"))  # leap day: 24 until 1 March
    await add_contact(database, birth_date=day("1960-01-01"))  # 65
    await add_contact(database)  # no birth date

    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 2, 28, 12))
    ages = dashboard.panel("age_bands")

    assert ages.kind is PanelKind.BAR
    assert values(ages) == {
        "< 18": 1, "18-24": 2, "25-34": 0, "35-44": 0, "45-54": 0, "55-64": 0, "65+": 1,
        "unknown": 1,
    }  # fmt: skip


async def test_a_leap_day_birthday_turns_over_on_1_march_in_a_common_year():
    database = await new_database()
    await add_contact(database, birth_date=day("2000-02-29"))

    march = await compute_dashboard(database.id, None, as_of=utc(2025, 3, 1, 12))

    assert values(march.panel("age_bands"))["25-34"] == 1


async def test_age_uses_the_as_of_day_in_the_database_time_zone():
    database = await new_database(timezone="Europe/Rome")
    await add_contact(database, birth_date=day("2007-03-01"))
    # 23:30 UTC on 28 February is already 1 March in Rome: the contact is 18 there.
    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 2, 28, 23, 30))

    assert values(dashboard.panel("age_bands"))["18-24"] == 1


async def test_custom_age_bands_label_every_band():
    database = await new_database()
    await add_contact(database, birth_date=day("1990-06-01"))
    options = DashboardOptions(age_bands=(30, 40))

    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1), options=options)

    assert values(dashboard.panel("age_bands")) == {"< 30": 0, "30-39": 1, "40+": 0, "unknown": 0}


async def test_gender_is_a_pie_with_unknown_last():
    database = await new_database()
    for gender in ("F", "F", "M", None, ""):
        await add_contact(database, gender=gender)

    gender = (await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1))).panel("gender")

    assert gender.kind is PanelKind.PIE
    assert [(p.label, p.value) for p in gender.series[0].points] == [
        ("F", 2), ("M", 1), ("unknown", 2),
    ]  # fmt: skip


async def test_country_and_city_show_top_n_then_other_then_unknown():
    database = await new_database()
    rows = [("IT", "Roma")] * 3 + [("FR", "Paris")] * 2 + [("DE", "Berlin"), ("ES", "Madrid")]
    for country, city in [*rows, (None, None)]:
        await add_contact(database, country=country, city=city)
    options = DashboardOptions(top_n=2)

    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1), options=options)

    assert [(p.label, p.value) for p in dashboard.panel("country").series[0].points] == [
        ("IT", 3), ("FR", 2), ("other", 2), ("unknown", 1),
    ]  # fmt: skip
    assert values(dashboard.panel("city")) == {"Roma": 3, "Paris": 2, "other": 2, "unknown": 1}


async def test_top_n_breaks_ties_by_label_and_has_no_other_when_all_fit():
    database = await new_database()
    for country in ("FR", "DE", "DE", "FR"):
        await add_contact(database, country=country)

    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1))

    assert [p.label for p in dashboard.panel("country").series[0].points] == ["DE", "FR"]


async def test_contactability_shares_need_an_address_and_its_consent():
    database = await new_database()
    await add_contact(database, email="a@x.it", consent_email=True, phone="+391", consent_sms=True)
    await add_contact(database, email="b@x.it", consent_email=False, push_token="tok")
    await add_contact(database, email="", consent_email=True, push_token="t2", consent_push=True)
    await add_contact(database, phone="+392", consent_sms=False)

    panel = (await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1))).panel(
        "contactability"
    )

    assert panel.unit == "%"
    assert values(panel) == {
        "email": 50.0, "email + consent": 25.0, "phone": 50.0, "phone + SMS consent": 25.0,
        "push token": 50.0, "push token + consent": 25.0,
    }  # fmt: skip
    assert summary(panel)["contacts"] == 4
    assert summary(panel)["email + consent"] == 1


async def test_a_segment_dashboard_counts_only_its_members():
    database = await new_database()
    await add_contact(database, country="IT", gender="F", email="a@x.it", consent_email=True)
    await add_contact(database, country="IT", gender="M")
    await add_contact(database, country="FR", gender="F", email="c@x.fr", consent_email=True)
    members = (
        "SELECT id AS contact_id FROM contact WHERE database_id = $1::int AND country = $2::text",
        [database.id, "IT"],
    )

    dashboard = await compute_dashboard(database.id, members, as_of=utc(2025, 1, 1))

    assert values(dashboard.panel("country")) == {"IT": 2}
    assert values(dashboard.panel("gender")) == {"F": 1, "M": 1}
    assert summary(dashboard.panel("contactability"))["email"] == 1


async def test_the_whole_database_dashboard_ignores_other_databases():
    database, other = await new_database(), await new_database()
    await add_contact(database, country="IT")
    await add_contact(other, country="FR")
    # Even a member set naming another database's contacts stays inside this database.
    foreign = ("SELECT id AS contact_id FROM contact WHERE database_id = $1::int", [other.id])

    whole = await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1))
    leaked = await compute_dashboard(database.id, foreign, as_of=utc(2025, 1, 1))

    assert values(whole.panel("country")) == {"IT": 1}
    assert values(leaked.panel("country")) == {}


async def test_bad_input_is_named():
    database = await new_database()
    with pytest.raises(DashboardError) as error:
        await compute_dashboard(database.id, None, as_of=datetime(2025, 1, 1))
    assert error.value.path == "asOf"
    with pytest.raises(DashboardError) as error:
        await compute_dashboard(database.id + 1000, None, as_of=utc(2025, 1, 1))
    assert (error.value.path, error.value.code) == ("databaseId", "not_found")
    with pytest.raises(DashboardError) as error:
        options = DashboardOptions(age_bands=(30, 20))
        await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1), options=options)
    assert error.value.path == "ageBands"
    with pytest.raises(DashboardError) as error:
        options = DashboardOptions(since=day("2025-02-01"), until=day("2025-01-01"))
        await compute_dashboard(
            database.id, None, as_of=datetime(2025, 3, 1, tzinfo=ZoneInfo("UTC")), options=options
        )
    assert error.value.path == "until"
    with pytest.raises(DashboardError) as error:
        options = DashboardOptions(since=day("2025-02-01"))
        await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1), options=options)
    assert error.value.path == "since"
    with pytest.raises(DashboardError) as error:
        options = DashboardOptions(since=day("2020-01-01"), grain=Grain.DAY)
        await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1), options=options)
    assert error.value.path == "grain"
    with pytest.raises(DashboardError) as error:
        options = DashboardOptions(field_keys=("city", "country", "city"))
        await compute_dashboard(database.id, None, as_of=utc(2025, 1, 1), options=options)
    assert error.value.path == "fieldKeys[2]"
