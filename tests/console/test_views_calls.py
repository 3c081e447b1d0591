"""The call bar: starting a call, wrapping it up with its outcome and reason."""

from __future__ import annotations

import pytest

from scheduling.models import Appointment, Call, Hold
from tests import factories as f

from .helpers import HX, bookable

pytestmark = pytest.mark.django_db


def test_starting_a_call_prefills_the_search_with_the_callers_phone(console, agent):
    p = f.patient(phone="3035550177")

    response = console.post("/console/call/start/", {"caller_phone": "(303) 555-0177"}, headers=HX)

    html = response.content.decode()
    assert response.status_code == 200
    call = Call.objects.get(agent=agent)
    assert call.caller_phone == "3035550177" and call.ended_at is None
    assert 'value="3035550177"' in html
    assert "Caller (303) 555-0177" in html  # read back the way people say it
    assert f'name="patient_id" value="{p.pk}"' in html
    assert 'hx-swap-oob="true"' in html  # the other panels follow out of band
    register = console.get("/console/").context["register_form"]
    assert register.initial["phone"] == "3035550177"  # ready for a caller not on file


def test_wrapping_up_releases_the_calls_hold(console):
    _, _, slot = bookable()
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk}, headers=HX)

    console.post("/console/call/wrap-up/", {"outcome": "callback", "reason": "other"}, headers=HX)

    assert Hold.objects.get().released_at is not None
    assert Call.objects.get().outcome == "callback"


def test_wrap_up_needs_an_outcome(console):
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    response = console.post("/console/call/wrap-up/", {"outcome": ""}, headers=HX)
    assert response.status_code == 400
    assert Call.objects.get().ended_at is None


def test_wrap_up_needs_a_reason_and_stores_it_for_first_call_resolution(console):
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    refused = console.post("/console/call/wrap-up/", {"outcome": "info_only"}, headers=HX)
    assert refused.status_code == 400
    assert "Choose why the patient called." in refused.content.decode()
    assert Call.objects.get().ended_at is None

    console.post(
        "/console/call/wrap-up/", {"outcome": "info_only", "reason": "billing"}, headers=HX
    )
    call = Call.objects.get()
    assert call.ended_at and call.reason == "billing"


def test_the_call_reason_is_prefilled_from_the_start_and_from_a_booking(console):
    started = console.post(
        "/console/call/start/", {"caller_phone": "", "reason": "recall"}, headers=HX
    ).content.decode()
    assert Call.objects.get().reason == "recall"
    assert '<option value="recall" selected>' in started  # carried to the wrap-up form

    _, _, slot = bookable()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    console.post(
        "/console/hold/",
        {"slot_id": slot.pk, "appointment_type_id": f.appointment_type().pk},
        headers=HX,
    )
    booked = console.post("/console/book/", {"reason": "urgent"}, headers=HX).content.decode()
    # The reason the agent gave at the start stands; without one, the booking's is used
    # (see the strongest-outcome test below).
    wrapup = booked[booked.index('id="id_wrapup_reason"') :]
    assert '<option value="recall" selected>' in wrapup[: wrapup.index("</select>")]


def test_wrap_up_prefills_the_strongest_outcome_not_the_last_action(console):
    _, _, slot = bookable()
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    vt = f.appointment_type()
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)
    console.post("/console/book/", {"reason": "referral"}, headers=HX)
    appt = Appointment.objects.get()
    cancelled = console.post(
        "/console/appointments/cancel/",
        {"appointment_id": appt.pk, "reason": "patient_request"},
        headers=HX,
    ).content.decode()
    assert Appointment.objects.get().status == "cancelled"

    # Booked then cancelled on one call: the booking is what the call achieved, and a
    # reload (no action just happened) prefills the same.
    for page in (cancelled, console.get("/console/").content.decode()):
        bar = page[page.index('id="id_outcome"') :]
        bar = bar[: bar.index("</select>")]
        assert '<option value="booked" selected>' in bar
        reason = page[page.index('id="id_wrapup_reason"') :]
        assert '<option value="referral" selected>' in reason[: reason.index("</select>")]
