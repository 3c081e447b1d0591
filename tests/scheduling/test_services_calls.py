"""Calls and the waitlist through the services against the real database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scheduling import services
from scheduling.models import (
    Appointment,
    Call,
    Waitlist,
)
from tests import factories as f

from .services_world import DAY, book

pytestmark = pytest.mark.django_db


# --- calls and waitlist -----------------------------------------------------------------


def test_wrapping_up_a_call_records_the_outcome_and_releases_its_holds(world, agent, other_agent):
    call = services.call_start(agent=agent, caller_phone="303-555-0101")
    services.hold_place(slot=world.slots[0], by=agent, call=call)

    ended = services.call_wrap_up(
        call=call, by=agent, outcome=Call.Outcome.INFO_ONLY, patient=world.patient
    )

    assert ended.ended_at is not None and ended.outcome == "info_only"
    assert ended.patient == world.patient and ended.caller_phone == "3035550101"
    assert services.hold_place(slot=world.slots[0], by=other_agent).held_by == other_agent
    with pytest.raises(services.CallAlreadyEnded):
        services.call_wrap_up(call=call, by=agent, outcome="booked")
    with pytest.raises(services.InvalidOutcome):
        services.call_wrap_up(call=services.call_start(agent=agent), by=agent, outcome="meh")


def test_another_agents_call_cannot_be_wrapped_up(agent, other_agent):
    call = services.call_start(agent=agent)
    with pytest.raises(services.CallNotYours):
        services.call_wrap_up(call=call, by=other_agent, outcome="info_only")


def test_a_waitlist_window_must_make_sense(world, agent):
    with pytest.raises(services.WaitlistWindowInvalid):
        services.waitlist_add(
            patient=world.patient,
            appointment_type=world.checkup,
            by=agent,
            earliest=date.today() + timedelta(days=5),
            latest=date.today() + timedelta(days=2),
        )
    assert not Waitlist.objects.exists()


def test_a_merged_patient_record_cannot_be_booked(world, agent):
    survivor = f.patient()
    merged = f.patient(status="merged", merged_into=survivor)

    with pytest.raises(services.PatientMerged):
        book(world, agent, patient=merged)
    assert not Appointment.objects.exists()


def test_a_freed_unit_too_short_for_a_waiting_visit_does_not_match_it(world, agent):
    f.appointment(patient=f.patient(), slot=world.slots[1], appointment_type=world.checkup)
    appt = book(world, agent)  # 09:00; 09:30 stays booked by someone else
    long_wait = services.waitlist_add(
        patient=f.patient(),
        appointment_type=world.consult,
        by=agent,
        earliest=DAY.date(),
        latest=DAY.date(),
    )
    short_wait = services.waitlist_add(
        patient=f.patient(),
        appointment_type=world.checkup,
        by=agent,
        earliest=DAY.date(),
        latest=DAY.date(),
    )

    services.appointment_cancel(appointment=appt, by=agent, reason="other")

    matches = services.waitlist_matches_for_slots(slot_ids=services.freed_slot_ids(appt))
    assert [m.entry_id for m in matches] == [short_wait.pk]
    assert long_wait.pk not in {m.entry_id for m in matches}


def test_waitlist_matches_leave_out_patients_the_rules_would_not_book_there(world, agent):
    appt = book(world, agent)
    in_plan, other_plan = f.plan(), f.plan()
    f.in_network(plan=in_plan, location=world.location)
    f.in_network(plan=in_plan, provider=world.provider)

    def wait(patient):
        return services.waitlist_add(
            patient=patient,
            appointment_type=world.checkup,
            by=agent,
            earliest=DAY.date(),
            latest=DAY.date(),
        )

    out_of_network = f.patient()
    f.coverage(patient=out_of_network, plan=other_plan)
    covered = f.patient()
    f.coverage(patient=covered, plan=in_plan)
    newcomer = f.patient()
    established = f.patient()
    seen_before = f.slot(
        provider=world.provider, location=world.location, start=DAY - timedelta(days=200)
    )
    f.appointment(
        patient=established, slot=seen_before, appointment_type=world.checkup, status="completed"
    )
    entries = [wait(p) for p in (out_of_network, covered, newcomer, established)]
    world.provider.accepts_new_patients = False  # the panel closed after the booking
    world.provider.save()

    services.appointment_cancel(appointment=appt, by=agent, reason="other")

    # The slot finder would exclude the first (out of network for its plan) and the
    # newcomer (panel closed); the covered patient counts as new too, so only the
    # established patient is offered the freed slot.
    matches = services.waitlist_matches_for_slots(slot_ids=services.freed_slot_ids(appt))
    assert [m.entry_id for m in matches] == [entries[3].pk]

    world.provider.accepts_new_patients = True
    world.provider.save()
    matches = services.waitlist_matches_for_slots(slot_ids=services.freed_slot_ids(appt))
    assert [m.entry_id for m in matches] == [entries[1].pk, entries[2].pk, entries[3].pk]


def test_a_call_records_why_the_patient_called(agent):
    with pytest.raises(services.InvalidReason):
        services.call_start(agent=agent, reason="because")
    call = services.call_start(agent=agent, reason="recall")
    with pytest.raises(services.InvalidReason):
        services.call_wrap_up(call=call, by=agent, outcome="info_only", reason="because")
    assert Call.objects.get(pk=call.pk).ended_at is None

    ended = services.call_wrap_up(call=call, by=agent, outcome="info_only", reason="billing")
    assert Call.objects.get(pk=ended.pk).reason == "billing"
