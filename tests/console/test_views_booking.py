"""Hold, book, reschedule, cancel and waitlist from the console."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling.models import Appointment, Call, Hold
from tests import factories as f

from .helpers import HX, bookable, out_of_network_patient

pytestmark = pytest.mark.django_db


def test_hold_then_book_then_wrap_up(console, agent):
    _, _, slot = bookable()
    vt = f.appointment_type()
    p = f.patient()
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)

    held = console.post(
        "/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX
    )
    assert held.status_code == 200 and "countdown" in held.content.decode()
    # First paint in the same m:ss the script ticks (not "179s").
    assert re.search(r'class="countdown"[^>]*>[0-3]:\d\d</strong>', held.content.decode())

    booked = console.post("/console/book/", {"reason": "new_problem"}, headers=HX)
    assert booked.status_code == 200, booked.content.decode()
    appt = Appointment.objects.get(patient=p)
    assert appt.status == "booked" and appt.call is not None
    assert "Booked." in booked.content.decode()

    wrapped = console.post(
        "/console/call/wrap-up/", {"outcome": "booked", "reason": "new_problem"}, headers=HX
    )
    assert "Call wrapped up: Booked" in wrapped.content.decode()
    call = Call.objects.get()
    assert call.outcome == "booked" and call.patient == p and call.ended_at


def test_a_slot_held_by_another_agent_is_a_clear_message(console, other_agent):
    from scheduling import services

    _, _, slot = bookable()
    services.hold_place(slot=slot, by=other_agent)
    f.patient()

    response = console.post("/console/hold/", {"slot_id": slot.pk}, headers=HX)

    assert response.status_code == 409
    assert "held by another agent" in response.content.decode()


def test_book_without_a_reason_is_refused_and_keeps_the_hold(console):
    _, _, slot = bookable()
    vt = f.appointment_type()
    p = f.patient()
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)

    response = console.post("/console/book/", {"reason": ""}, headers=HX)

    assert response.status_code == 400
    assert not Appointment.objects.exists()
    assert Hold.objects.get().released_at is None


def test_network_override_needs_a_reason(console):
    _, _, slot = bookable()
    vt = f.appointment_type()
    p = f.patient()
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)

    response = console.post(
        "/console/book/", {"reason": "new_problem", "network_override": "on"}, headers=HX
    )

    assert response.status_code == 400
    assert "needs a reason on file" in response.content.decode()


def test_cancel_from_the_context_panel_shows_waitlist_matches(console):
    _, _, slot = bookable()
    vt = f.appointment_type()
    p = f.patient(last_name="Canceller")
    waiting = f.patient(first_name="Wendy", last_name="Waiting")
    appt = f.appointment(patient=p, slot=slot, appointment_type=vt)
    from scheduling.models import Waitlist

    Waitlist.objects.create(
        patient=waiting,
        appointment_type=vt,
        earliest=timezone.localdate(),
        latest=timezone.localdate() + timedelta(days=30),
        created_at=timezone.now(),
    )
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)

    response = console.post(
        "/console/appointments/cancel/",
        {"appointment_id": appt.pk, "reason": "patient_request"},
        headers=HX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    appt.refresh_from_db()
    assert appt.status == "cancelled" and appt.cancel_reason == "patient_request"
    assert "Waiting, Wendy" in html


def test_cannot_cancel_another_patients_appointment(console):
    _, _, slot = bookable()
    other = f.appointment(patient=f.patient(), slot=slot, appointment_type=f.appointment_type())
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    response = console.post(
        "/console/appointments/cancel/",
        {"appointment_id": other.pk, "reason": "patient_request"},
        headers=HX,
    )

    assert response.status_code == 409
    other.refresh_from_db()
    assert other.status == "booked"


def test_waitlist_add_from_the_context_panel(console):
    p = f.patient()
    vt = f.appointment_type()
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)
    today = timezone.localdate()

    response = console.post(
        "/console/waitlist/add/",
        {
            "wl-appointment_type": vt.pk,
            "wl-earliest": today.isoformat(),
            "wl-latest": (today + timedelta(days=14)).isoformat(),
            "wl-time_of_day": "morning",
        },
        headers=HX,
    )

    assert "Added to the waitlist." in response.content.decode()
    assert p.waitlist_entries.get().time_of_day == "morning"


def test_booking_on_an_expired_hold_says_so_and_books_nothing(console):
    _, _, slot = bookable()
    vt = f.appointment_type()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)
    past = timezone.now() - timedelta(minutes=1)
    Hold.objects.update(created_at=past - timedelta(minutes=3), expires_at=past)

    response = console.post("/console/book/", {"reason": "recall"}, headers=HX)

    assert response.status_code == 409
    assert "hold has expired" in response.content.decode()
    assert not Appointment.objects.exists()


def test_holding_a_long_visit_holds_every_unit_it_needs(console, agent):
    loc = f.location()
    prov = f.provider(locations=[loc])
    start = timezone.now() + timedelta(days=2)
    first = f.slot(provider=prov, location=loc, start=start)
    second = f.slot(provider=prov, location=loc, start=start + timedelta(minutes=30))
    long_visit = f.appointment_type(duration_minutes=60)
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    response = console.post(
        "/console/hold/", {"slot_id": first.pk, "appointment_type_id": long_visit.pk}, headers=HX
    )

    assert response.status_code == 200
    live = Hold.objects.filter(held_by=agent, released_at__isnull=True)
    assert set(live.values_list("slot_id", flat=True)) == {first.pk, second.pk}


def test_booking_an_out_of_network_slot_needs_the_override_reason(console):
    net = f.console_network()
    patient, plan = out_of_network_patient(net)
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    slot = net["slots"]["cherry-creek"][0]
    held = console.post(
        "/console/hold/", {"slot_id": slot.pk, "appointment_type_id": net["consult"].pk}, headers=HX
    ).content.decode()
    assert f"Dr. Lee Park is out of network for {plan}: needs an override reason." in held
    assert 'name="network_override_reason"' in held

    refused = console.post("/console/book/", {"reason": "new_problem"}, headers=HX)

    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Booking out of network needs an override reason; nothing was booked." in html
    assert not Appointment.objects.exists()
    assert Hold.objects.filter(slot=slot, released_at__isnull=True).exists()  # hold kept

    booked = console.post(
        "/console/book/",
        {
            "reason": "new_problem",
            "network_override": "on",
            "network_override_reason": "Patient chose this dentist, pays the difference",
        },
        headers=HX,
    )
    assert booked.status_code == 200, booked.content.decode()
    appt = Appointment.objects.get()
    assert appt.network_override_reason == "Patient chose this dentist, pays the difference"


def test_moving_a_visit_out_of_network_needs_the_override_reason(console):
    net = f.console_network()
    patient, plan = out_of_network_patient(net)
    slots = net["slots"]["cherry-creek"]
    visit = f.appointment(patient=patient, slot=slots[-1], appointment_type=net["consult"])
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    console.post(
        "/console/appointments/reschedule/start/", {"appointment_id": visit.pk}, headers=HX
    )
    held = console.post(
        "/console/hold/",
        {"slot_id": slots[0].pk, "appointment_type_id": net["consult"].pk},
        headers=HX,
    ).content.decode()
    assert "Move appointment to this slot" in held
    assert f"Dr. Lee Park is out of network for {plan}: needs an override reason." in held
    assert 'name="network_override_reason"' in held

    refused = console.post(
        "/console/appointments/reschedule/",
        {"appointment_id": visit.pk, "reason": "patient_request"},
        headers=HX,
    )
    assert refused.status_code == 400
    assert "Moving out of network needs an override reason" in refused.content.decode()
    visit.refresh_from_db()
    assert visit.status == "booked", "not moved"

    moved = console.post(
        "/console/appointments/reschedule/",
        {
            "appointment_id": visit.pk,
            "reason": "patient_request",
            "network_override_reason": "Earliest CBCT slot; patient accepts the cost",
        },
        headers=HX,
    )
    assert moved.status_code == 200, moved.content.decode()
    assert "Rescheduled." in moved.content.decode()
    new = Appointment.objects.get(rescheduled_from=visit)
    assert new.start == slots[0].start
    assert new.network_override_reason == "Earliest CBCT slot; patient accepts the cost"


def test_an_in_network_hold_asks_for_no_override(console):
    net = f.console_network()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    slot = net["slots"]["cherry-creek"][0]

    held = console.post(
        "/console/hold/", {"slot_id": slot.pk, "appointment_type_id": net["consult"].pk}, headers=HX
    ).content.decode()

    assert "countdown" in held and 'name="network_override_reason"' not in held
