"""SVG pictures of panels: valid XML with an <svg> root that shows the series' labels."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from segmentation.dashboards import (
    DashboardOptions,
    Grain,
    Panel,
    PanelKind,
    Point,
    Series,
    compute_dashboard,
    render_panel_svg,
)
from tests.segmentation.dashboards_data import add_contact, add_event, day, new_database, utc

SVG = "{http://www.w3.org/2000/svg}svg"


def svg_text(panel: Panel) -> str:
    """All text an SVG shows; fails unless it is well-formed XML with an <svg> root."""
    root = ET.fromstring(render_panel_svg(panel))
    assert root.tag == SVG
    return "".join(root.itertext())


@pytest.mark.usefixtures("db")
async def test_every_panel_of_a_real_dashboard_draws_with_its_labels():
    database = await new_database()
    a = await add_contact(database, country="IT", city="Roma", gender="F", email="a@x.it",
                          birth_date=day("1990-05-01"))  # fmt: skip
    b = await add_contact(database, country="FR", city="Paris", gender="M")
    await add_event(a, "purchase", utc(2025, 1, 5), 80)
    await add_event(b, "purchase_line", utc(2025, 2, 5), 30, category="shoes")
    await add_event(b, "email_opened", utc(2025, 2, 6))
    options = DashboardOptions(
        since=day("2025-01-01"), until=day("2025-04-01"), grain=Grain.MONTH,
        field_keys=("birth_date",),
    )  # fmt: skip
    dashboard = await compute_dashboard(database.id, None, as_of=utc(2025, 5, 1), options=options)

    assert {p.kind for p in dashboard.panels} == set(PanelKind)
    for panel in dashboard.panels:
        text = svg_text(panel)
        assert panel.title in text
        shown = [p for p in panel.series[0].points if panel.kind is not PanelKind.PIE or p.value]
        for point in shown:
            assert point.label in text, (panel.key, point.label)
        if len(panel.series) > 1:
            assert all(s.name in text for s in panel.series), panel.key


def make_panel(kind: PanelKind, *series: Series, title: str = "Spend in $ & <more>") -> Panel:
    return Panel("k", title, kind, series, "contacts", datetime(2025, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("kind", list(PanelKind))
def test_markup_and_dollar_signs_in_labels_are_text(kind):
    series = Series("a & b", (Point("< 18", 3), Point("$5 <x>", 5)))
    text = svg_text(make_panel(kind, series, Series("c", (Point("< 18", 1), Point("$5 <x>", 2)))))

    assert "Spend in $ & <more>" in text
    assert "< 18" in text and "$5 <x>" in text


def test_an_empty_panel_says_no_data():
    assert "no data" in svg_text(make_panel(PanelKind.BAR, Series("a", ())))
    assert "no data" in svg_text(make_panel(PanelKind.LINE))


def test_a_long_time_series_thins_its_axis_labels_and_draws_the_same_svg_twice():
    points = tuple(Point(f"2025-01-{d:02d}", d) for d in range(1, 32))
    svg = render_panel_svg(make_panel(PanelKind.LINE, Series("visits", points)))
    text = "".join(ET.fromstring(svg).itertext())

    assert "2025-01-01" in text and "2025-01-03" in text and "2025-01-02" not in text
    assert svg == render_panel_svg(make_panel(PanelKind.LINE, Series("visits", points)))
