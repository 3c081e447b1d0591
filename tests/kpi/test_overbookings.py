"""Overbookings on the capacity page, per provider and location, with their rows."""

from __future__ import annotations

import pytest

from .dataset import PERIOD
from .test_views import rows_of

pytestmark = pytest.mark.django_db
Q = PERIOD.query()


def test_the_capacity_page_counts_overbookings_and_drills_into_them(client, ops_manager, kpi_net):
    client.force_login(ops_manager)

    html = client.get(f"/kpi/capacity/?{Q}").content.decode()

    assert "Overbookings by provider and location" in html
    assert ">1 appointment</a>" in html
    link = f"/kpi/drill/overbookings/?{Q}"
    rows = rows_of(client.get(f"{link}&provider={kpi_net.p2.pk}&format=csv"))
    assert [r[0] for r in rows[1:]] == [str(kpi_net.a5.pk)]
    assert rows_of(client.get(f"{link}&provider={kpi_net.p1.pk}&format=csv"))[1:] == []
