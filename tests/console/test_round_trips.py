"""What each console answer costs the database: drop-downs read with one plain query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories as f

from .helpers import HX

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="server-side cursors are PostgreSQL's"
)
def test_the_finder_and_waitlist_drop_downs_need_no_server_side_cursor(console):
    net = f.console_network()
    patient = f.patient()
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)

    with CaptureQueriesContext(connection) as queries:
        html = console.get("/console/").content.decode()

    assert net["consult"].name in html  # the appointment types are listed
    cursors = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DECLARE")]
    assert cursors == []
