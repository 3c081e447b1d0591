"""What one API booking costs the database, pinned so that a regression shows.

Counted after one warm-up booking, as a running server would be: the network's snapshot
and Django's content types are then read already. The audit chain's seal runs after
commit, at most once a second per process, and is not counted (these tests never commit).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling.models import Appointment
from tests import factories as f

from .test_api import World, api, book_payload, hold

# PostgreSQL reads the patient's facts, the plan's network, the absences and the
# network's version in one statement; SQLite reads them one by one and, with no version
# to trust, the slot's location and provider and the rule settings too. Booking also
# releases the companion holds a two-resource visit keeps on its second staff member,
# and reads the token's agent's roles for the audit entries it writes.
HOLD_QUERIES = 9
BOOK_QUERIES = 27 if connection.vendor == "postgresql" else 46


@pytest.mark.django_db
def test_an_api_hold_and_booking_take_a_fixed_number_of_queries(agent):
    world = World()
    client = api(agent)
    warm = hold(client, world.slots[2].pk).json()["id"]
    payload = book_payload(world, warm) | {"patient_id": f.patient().pk}
    assert client.post("/api/v1/appointments/", payload, format="json").status_code == 201

    with CaptureQueriesContext(connection) as held:
        response = hold(client, world.slots[0].pk)
    assert response.status_code == 201
    with CaptureQueriesContext(connection) as booked:
        booking = client.post(
            "/api/v1/appointments/", book_payload(world, response.json()["id"]), format="json"
        )

    assert booking.status_code == 201
    assert Appointment.objects.get(pk=booking.json()["id"]).patient == world.patient
    assert (len(held), len(booked)) == (HOLD_QUERIES, BOOK_QUERIES)
