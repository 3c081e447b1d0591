"""The console's worklist: callbacks by due time, and offering freed time to the waitlist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.models import AuditEntry as LogEntry
from scheduling import services
from scheduling.models import Call, Callback, Waitlist
from tests import factories as f

from .helpers import HX, bookable

pytestmark = pytest.mark.django_db


def test_the_console_page_loads_the_worklist(console):
    page = console.get("/console/").content.decode()
    assert 'id="worklist"' in page and 'hx-get="/console/worklist/"' in page


def test_a_callback_wrap_up_shows_on_the_worklist_and_calling_back_opens_a_call(console, agent):
    patient = f.patient(first_name="Noor", last_name="Haddad")
    console.post("/console/call/start/", {"caller_phone": "3035550100"}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    wrapped = console.post(
        "/console/call/wrap-up/",
        {"outcome": "callback", "reason": "billing", "callback_in": "60"},
        headers=HX,
    )
    assert wrapped["HX-Trigger"] == "worklist-changed"

    listed = console.get("/console/worklist/", headers=HX).content.decode()

    assert "Call back Haddad, Noor" in listed and "due in 59" in listed
    assert LogEntry.objects.filter(
        action=LogEntry.Action.ACCESS, object_pk=str(patient.pk), actor=agent
    ).exists()
    callback = Callback.objects.get()
    started = console.post(
        "/console/callbacks/start/", {"callback_id": callback.pk}, headers=HX
    ).content.decode()
    assert "On call" in started and "Haddad, Noor" in started
    assert Call.objects.filter(ended_at__isnull=True, patient=patient).count() == 1
    assert "No callbacks owed." in console.get("/console/worklist/", headers=HX).content.decode()


def test_an_overdue_callback_comes_first_and_says_so(console, agent):
    now = timezone.now()
    for name, due in (("Later", now + timedelta(hours=2)), ("Overdue", now - timedelta(hours=1))):
        call = services.call_start(agent=agent, patient=f.patient(first_name=name, last_name="Kim"))
        services.call_wrap_up(
            call=call, by=agent, outcome="callback", reason="other", callback_due=due
        )

    listed = console.get("/console/worklist/", headers=HX).content.decode()

    assert listed.index("Call back Kim, Overdue") < listed.index("Call back Kim, Later")
    assert "overdue</strong> by 1" in listed


def test_offering_freed_time_marks_the_entry_offered_and_opens_the_patient(console, agent):
    _, _, slot = bookable()
    kind = f.appointment_type()
    waiting = f.patient(first_name="Ines")
    day = slot.location.local(slot.start).date()
    entry = services.waitlist_add(
        patient=waiting, appointment_type=kind, by=agent, earliest=day, latest=day
    )

    response = console.post(
        "/console/waitlist/offer/", {"entry_id": entry.pk, "slot_id": slot.pk}, headers=HX
    )

    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.status == Waitlist.Status.OFFERED and entry.offered_slot == slot
    assert "Ines" in response.content.decode()
