"""The Referrals KPI page: counts, booked share and the median wait, on the hand-made network."""

from __future__ import annotations

import pytest

from .dataset import PERIOD
from .test_views import rows_of

pytestmark = pytest.mark.django_db
Q = PERIOD.query()


def test_the_page_shows_the_wait_from_referral_to_appointment(client, ops_manager, kpi_net):
    client.force_login(ops_manager)

    html = client.get(f"/kpi/referrals/?{Q}").content.decode()

    assert "Referral to appointment" in html and "Referrals by visit type" in html
    # Received 1 March 12:00, its appointment 4 March 15:00: 3.1 days; booked 3 March: 2.0.
    assert "3.1" in html and "2.0" in html
    rows = rows_of(client.get(f"/kpi/drill/referrals/?{Q}&format=csv"))
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {str(kpi_net.ref_booked.pk), str(kpi_net.ref_open.pk)}
    assert by_id[str(kpi_net.ref_booked.pk)][8] == "3.1"
    assert "Patient" not in rows[0], "ops sees opaque ids, not names"


def test_the_page_filters_by_visit_type(client, ops_manager, kpi_net):
    client.force_login(ops_manager)

    rows = rows_of(
        client.get(f"/kpi/drill/referrals/?{PERIOD.query(type=kpi_net.t2.pk)}&format=csv")
    )

    assert [r[0] for r in rows[1:]] == [str(kpi_net.ref_open.pk)]
