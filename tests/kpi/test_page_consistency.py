"""What the KPI pages show agrees with itself: one bookings total, no coloured zero, and
a proper page for a drill-down that does not exist."""

from __future__ import annotations

import pytest

from scheduling.kpi import selectors
from scheduling.kpi.metrics import Metric, format_delta

from .dataset import PERIOD

pytestmark = pytest.mark.django_db


def test_every_bookings_total_is_the_same_number(kpi_net):
    access = {m.key: m for m in selectors.access_metrics(PERIOD)}
    accuracy = {m.key: m for m in selectors.accuracy_summary(PERIOD).metrics}
    by_location = selectors.accuracy_summary(PERIOD).by_location

    assert access["bookings"].value == accuracy["wrong_location"].denominator == 6
    assert sum(r["bookings"] for r in by_location) == 6


@pytest.mark.parametrize(("value", "previous"), [(50.0, 50.0), (50.03, 50.0), (49.98, 50.0)])
def test_a_change_that_shows_as_zero_is_neither_better_nor_worse(value, previous):
    metric = Metric("x", "X", "", "percent", value, previous)
    assert metric.trend == "flat"
    assert format_delta(metric) == "±0.0 pts"


def test_a_real_change_keeps_its_colour():
    assert Metric("x", "X", "", "percent", 50.2, 50.0).trend == "better"
    assert Metric("x", "X", "", "percent", 50.0, 50.2, lower_is_better=True).trend == "better"


def test_an_unknown_drill_down_is_a_proper_not_found_page(client, ops_manager):
    client.force_login(ops_manager)

    response = client.get("/kpi/drill/no_such_thing/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "This page does not exist" in page and 'href="/kpi/"' in page
    assert "<title>Not found" in page
