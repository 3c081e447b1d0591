"""The console page and its patient panel: search, open (audited), register."""

from __future__ import annotations

from datetime import date

import pytest

from config.models import AuditEntry as LogEntry
from patients.models import Patient
from scheduling.models import Appointment
from tests import factories as f

from .helpers import HX, accesses, bookable

pytestmark = pytest.mark.django_db


def test_the_console_needs_the_console_permission(client, biller, outsider):
    for user in (biller, outsider):
        client.force_login(user)
        assert client.get("/console/").status_code == 403
        assert client.post("/console/patients/search/", {"query": "x"}).status_code == 403


def test_the_console_page_shows_the_panels_and_shortcuts(console):
    page = console.get("/console/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="callbar"' in html and 'id="search"' in html and 'id="context"' in html
    assert "<kbd>/</kbd> search patient" in html and "<kbd>b</kbd> book" in html
    assert "HX-Request" in page["Vary"]


def test_search_is_a_post_and_tolerates_typos(console):
    maria = f.patient(first_name="Maria", last_name="Gonzalez")

    assert console.get("/console/patients/search/").status_code == 405
    response = console.post("/console/patients/search/", {"query": "Gonzlez"}, headers=HX)

    assert f'value="{maria.pk}"' in response.content.decode()


def test_opening_a_patient_shows_context_and_audits(console, agent):
    p = f.patient(first_name="Ada", last_name="Lovelace")

    response = console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)

    assert "Lovelace, Ada" in response.content.decode()
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=agent).count() == 1
    assert "Lovelace" in console.get("/console/").content.decode()  # kept in the session


def test_register_refuses_duplicates_until_confirmed(console):
    f.patient(first_name="Maria", last_name="Gonzalez", date_of_birth=date(1985, 4, 12))
    body = {
        "first_name": "Maria",
        "last_name": "Gonzales",
        "date_of_birth": "1985-04-12",
        "sex": "F",
        "zip_code": "80202",
        "preferred_language": "en",
    }

    refused = console.post("/console/patients/register/", body, headers=HX)
    assert refused.status_code == 409
    assert "may already be registered" in refused.content.decode()
    assert Patient.objects.count() == 1

    created = console.post(
        "/console/patients/register/", {**body, "confirmed_not_duplicate": "on"}, headers=HX
    )
    assert created.status_code == 200
    assert Patient.objects.count() == 2
    assert "Gonzales, Maria" in created.content.decode()


def test_plain_html_forms_work_without_htmx(console):
    response = console.post("/console/call/start/", {"caller_phone": ""})
    assert response.status_code == 302 and response["Location"] == "/console/"


def test_no_console_url_carries_a_parameter():
    from django.urls import get_resolver

    console = get_resolver().url_patterns
    patterns = [
        str(p.pattern)
        for entry in console
        if str(entry.pattern) == "console/"
        for p in entry.url_patterns
    ]
    assert patterns and all("<" not in p for p in patterns)


def test_a_call_audits_each_patient_once_however_often_the_panel_redraws(console, agent):
    _, _, slot = bookable()
    vt = f.appointment_type()
    caller, relative = f.patient(), f.patient()
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": caller.pk}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)
    assert console.post("/console/book/", {"reason": "recall"}, headers=HX).status_code == 200
    appt = Appointment.objects.get()
    cancelled = console.post(
        "/console/appointments/cancel/",
        {"appointment_id": appt.pk, "reason": "patient_request"},
        headers=HX,
    )
    assert cancelled.status_code == 200, cancelled.content.decode()
    console.get("/console/")
    console.post("/console/patients/open/", {"patient_id": caller.pk}, headers=HX)  # again
    assert accesses(agent) == 1

    # Another patient on the same call is another access, then also only once.
    console.post("/console/patients/open/", {"patient_id": relative.pk}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": relative.pk}, headers=HX)
    assert (accesses(agent, caller), accesses(agent, relative)) == (1, 1)

    # The next call starts afresh.
    console.post("/console/call/wrap-up/", {"outcome": "cancelled", "reason": "cancel"}, headers=HX)
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": caller.pk}, headers=HX)
    assert accesses(agent, caller) == 2


def test_outside_a_call_each_opening_is_one_access_and_redraws_are_not(console, agent):
    _, _, slot = bookable()
    vt = f.appointment_type()
    p = f.patient()
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)
    console.post("/console/book/", {"reason": "recall"}, headers=HX)
    console.get("/console/")
    assert accesses(agent, p) == 1

    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)

    assert accesses(agent, p) == 2
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exclude(actor=agent).count() == 0
