"""An agent's open call and held slot survive a new login; abandoned calls are news."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.models import Call
from tests import factories as f

from .helpers import HX

pytestmark = pytest.mark.django_db


def test_it_finds_the_agents_open_call_and_hold_again_after_a_new_login(client, agent):
    net = f.console_network()
    patient = f.patient(first_name="Nia", last_name="Nakamura")
    client.force_login(agent)
    client.post("/console/call/start/", {"caller_phone": "3035550100"}, headers=HX)
    client.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    client.post("/console/slots/", {"appointment_type": net["cleaning"].pk}, headers=HX)
    slot = net["slots"]["cherry-creek"][0]
    client.post(
        "/console/hold/",
        {"slot_id": slot.pk, "appointment_type_id": net["cleaning"].pk},
        headers=HX,
    )
    call = Call.objects.get(agent=agent)

    client.logout()  # a new session: the old one's console state is gone
    client.force_login(agent)
    page = client.get("/console/").content.decode()

    assert "Found your open call and its held slot again." in page
    assert 'id="wrapup-button"' in page and "Nakamura, Nia" in page
    assert 'id="release-button"' in page and 'id="book-button"' in page
    # And it can be booked and wrapped up as usual.
    booked = client.post("/console/book/", {"reason": "recall"}, headers=HX)
    assert "Booked." in booked.content.decode()
    client.post("/console/call/wrap-up/", {"outcome": "booked", "reason": "recall"}, headers=HX)
    call.refresh_from_db()
    assert call.ended_at is not None and call.outcome == "booked"
    assert call.appointments.get().start == slot.start


def test_it_tells_the_agent_their_call_was_closed_as_abandoned(console, agent, settings):
    settings.CALL_ABANDON_MINUTES = 60
    call = services.call_start(agent=agent)
    Call.objects.filter(pk=call.pk).update(started_at=timezone.now() - timedelta(hours=2))
    services.call_abandon(call_id=call.pk)

    page = console.get("/console/").content.decode()

    assert "was left open and closed as <strong>abandoned</strong>" in page
    assert 'id="call-start"' in page  # nothing to recover: a new call can start
