from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from patients.models import Patient
from scheduling.models import Appointment, Call, Hold
from tests import factories as f

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture
def console(client, agent):
    client.force_login(agent)
    return client


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


def _bookable(agent_region=None):
    loc = f.location(region=agent_region) if agent_region else f.location()
    prov = f.provider(locations=[loc])
    slot = f.slot(provider=prov, location=loc, start=timezone.now() + timedelta(days=2))
    return loc, prov, slot


def test_hold_then_book_then_wrap_up(console, agent):
    _, _, slot = _bookable()
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

    _, _, slot = _bookable()
    services.hold_place(slot=slot, by=other_agent)
    f.patient()

    response = console.post("/console/hold/", {"slot_id": slot.pk}, headers=HX)

    assert response.status_code == 409
    assert "held by another agent" in response.content.decode()


def test_book_without_a_reason_is_refused_and_keeps_the_hold(console):
    _, _, slot = _bookable()
    vt = f.appointment_type()
    p = f.patient()
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)

    response = console.post("/console/book/", {"reason": ""}, headers=HX)

    assert response.status_code == 400
    assert not Appointment.objects.exists()
    assert Hold.objects.get().released_at is None


def test_network_override_needs_a_reason(console):
    _, _, slot = _bookable()
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
    _, _, slot = _bookable()
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
    _, _, slot = _bookable()
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


def test_slot_finder_defaults_to_the_home_region_and_widens_in_one_click(console, agent):
    net = f.console_network()
    f.agent_profile(user=agent, home_region=net["region"])
    elsewhere = f.location(name="Mesa Dental", equipment=["cbct"])
    net["dentist"].locations.add(elsewhere)
    far_slot = f.slot(
        provider=net["dentist"], location=elsewhere, start=timezone.now() + timedelta(days=5)
    )
    p = f.patient()
    opened = console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)
    assert f'<option value="{net["region"].pk}" selected>' in opened.content.decode()

    body = {"appointment_type": net["consult"].pk, "region": net["region"].pk}
    scoped = console.post("/console/slots/", body, headers=HX).content.decode()
    assert "in <strong>Front Range</strong>" in scoped
    assert f'data-slot="{far_slot.pk}"' not in scoped
    assert "Lakewood Dental</strong> has no CBCT scanner" in scoped

    wide = console.post("/console/slots/", {**body, "widen": "1"}, headers=HX).content.decode()
    assert "across <strong>the whole network</strong>" in wide
    assert f'data-slot="{far_slot.pk}"' in wide


def test_slot_finder_rejects_a_backwards_window(console):
    net = f.console_network()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    today = timezone.localdate()

    response = console.post(
        "/console/slots/",
        {
            "appointment_type": net["consult"].pk,
            "date_from": (today + timedelta(days=5)).isoformat(),
            "date_to": today.isoformat(),
        },
        headers=HX,
    )

    assert response.status_code == 400
    assert "must end after it starts" in response.content.decode()


def test_booking_on_an_expired_hold_says_so_and_books_nothing(console):
    _, _, slot = _bookable()
    vt = f.appointment_type()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)
    past = timezone.now() - timedelta(minutes=1)
    Hold.objects.update(created_at=past - timedelta(minutes=3), expires_at=past)

    response = console.post("/console/book/", {"reason": "recall"}, headers=HX)

    assert response.status_code == 409
    assert "hold has expired" in response.content.decode()
    assert not Appointment.objects.exists()


def test_a_rule_exclusion_is_a_message_not_a_500(console):
    net = f.console_network()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    lakewood_slot = net["slots"]["lakewood"][0]
    console.post(
        "/console/hold/",
        {"slot_id": lakewood_slot.pk, "appointment_type_id": net["consult"].pk},
        headers=HX,
    )

    response = console.post("/console/book/", {"reason": "new_problem"}, headers=HX)

    assert response.status_code == 409
    html = response.content.decode()
    assert "The scheduling rules exclude this booking." in html
    assert "Lakewood Dental has no CBCT scanner" in html


def test_wrapping_up_releases_the_calls_hold(console):
    _, _, slot = _bookable()
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

    _, _, slot = _bookable()
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


def test_another_agents_held_slot_shows_as_held_not_as_a_hold_button(console, agent, other_agent):
    from scheduling import services

    net = f.console_network()
    theirs, mine, free = net["slots"]["cherry-creek"]
    services.hold_place(slot=theirs, by=other_agent, appointment_type=net["consult"])
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    console.post(
        "/console/hold/", {"slot_id": mine.pk, "appointment_type_id": net["consult"].pk}, headers=HX
    )

    html = console.post(
        "/console/slots/", {"appointment_type": net["consult"].pk}, headers=HX
    ).content.decode()

    # Theirs: listed where it ranks, marked held, and nothing to click.
    assert f'data-held-slot="{theirs.pk}"' in html
    assert f'data-slot="{theirs.pk}"' not in html
    assert "held by another agent" in html
    assert "(1 more held by other agents)" in html
    # Mine: still a button (it is mine to book), marked as mine; the free one is plain.
    assert f'class="slot-hold slot-mine" data-slot="{mine.pk}"' in html
    assert "held by you on this call" in html
    assert f'class="slot-hold" data-slot="{free.pk}"' in html


def _out_of_network_patient(net):
    """Cherry Creek takes the patient's plan; Dr. Park does not."""
    plan = f.plan()
    patient = f.patient()
    f.coverage(patient=patient, plan=plan)
    f.in_network(plan=plan, location=net["cherry"])
    return patient, plan


def test_out_of_network_slots_are_offered_only_when_the_agent_asks(console):
    net = f.console_network()
    patient, plan = _out_of_network_patient(net)
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    body = {"appointment_type": net["consult"].pk}
    first = net["slots"]["cherry-creek"][0]

    plain = console.post("/console/slots/", body, headers=HX).content.decode()
    assert 'id="out-of-network-toggle"' in plain
    assert f'data-slot="{first.pk}"' not in plain
    assert f"Dr. Lee Park</strong> is out of network for {plan}" in plain  # listed as excluded

    asked = console.post(
        "/console/slots/", {**body, "out_of_network": "on"}, headers=HX
    ).content.decode()
    assert f'data-slot="{first.pk}"' in asked
    assert f"Dr. Lee Park is out of network for {plan}: needs an override reason" in asked
    assert "Lakewood Dental</strong> has no CBCT scanner" in asked  # other hard rules still exclude


def test_booking_an_out_of_network_slot_needs_the_override_reason(console):
    net = f.console_network()
    patient, plan = _out_of_network_patient(net)
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
    patient, plan = _out_of_network_patient(net)
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


def _accesses(user, patient=None):
    entries = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=user)
    if patient is not None:
        entries = entries.filter(object_pk=str(patient.pk))
    return entries.count()


def test_a_call_audits_each_patient_once_however_often_the_panel_redraws(console, agent):
    _, _, slot = _bookable()
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
    assert _accesses(agent) == 1

    # Another patient on the same call is another access, then also only once.
    console.post("/console/patients/open/", {"patient_id": relative.pk}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": relative.pk}, headers=HX)
    assert (_accesses(agent, caller), _accesses(agent, relative)) == (1, 1)

    # The next call starts afresh.
    console.post("/console/call/wrap-up/", {"outcome": "cancelled", "reason": "cancel"}, headers=HX)
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": caller.pk}, headers=HX)
    assert _accesses(agent, caller) == 2


def test_outside_a_call_each_opening_is_one_access_and_redraws_are_not(console, agent):
    _, _, slot = _bookable()
    vt = f.appointment_type()
    p = f.patient()
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)
    console.post("/console/hold/", {"slot_id": slot.pk, "appointment_type_id": vt.pk}, headers=HX)
    console.post("/console/book/", {"reason": "recall"}, headers=HX)
    console.get("/console/")
    assert _accesses(agent, p) == 1

    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)

    assert _accesses(agent, p) == 2
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exclude(actor=agent).count() == 0


def test_a_visit_level_block_is_shown_and_widening_is_not_suggested(console, agent):
    net = f.console_network()
    f.agent_profile(user=agent, home_region=net["region"])
    existing_only = f.appointment_type(name="Child nitrous", patient_status="existing")
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    body = {"appointment_type": existing_only.pk, "region": net["region"].pk}
    page = console.post("/console/slots/", body, headers=HX).content.decode()

    assert 'class="blocked" role="alert"' in page
    assert "new to the practice" in page
    assert "Try the whole network" not in page
    assert 'id="widen"' not in page


def test_wrap_up_prefills_the_strongest_outcome_not_the_last_action(console):
    _, _, slot = _bookable()
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


def test_exclusions_name_each_place_once_and_are_summarised_above_the_options(console):
    net = f.console_network()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    page = console.post(
        "/console/slots/", {"appointment_type": net["consult"].pk}, headers=HX
    ).content.decode()

    assert "Lakewood Dental: Lakewood Dental" not in page
    assert "<strong>Lakewood Dental</strong> has no CBCT scanner" in page
    summary = page.index('class="small excluded-summary"')
    assert summary < page.index('class="slot-hold')
    assert "Lakewood Dental" in page[summary : page.index("</p>", summary)]


def test_providers_with_the_same_name_are_told_apart_in_the_drop_down(console):
    twin_a = f.provider(first_name="Lee", last_name="Park", credential="DDS")
    twin_b = f.provider(first_name="Lee", last_name="Park", credential="DMD")
    f.provider(first_name="Ann", last_name="Solo")
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    page = console.get("/console/").content.decode()

    assert f">Dr. Lee Park (DDS, NPI …{twin_a.npi[-4:]})</option>" in page
    assert f">Dr. Lee Park (DMD, NPI …{twin_b.npi[-4:]})</option>" in page
    assert ">Dr. Ann Solo</option>" in page  # unique names stay plain
