"""Agents' bookings, reschedules and cancellations through the services against the
real database, with every hard rule re-checked and the location told."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from integrations import outbox
from integrations.models import OutboxEvent
from patients.models import ClinicalFact
from scheduling import selectors, services
from scheduling.models import (
    Appointment,
    AppointmentSlot,
    Equipment,
    Hold,
    LocationClosure,
    Room,
    Slot,
    TimeOff,
)
from tests import factories as f

from .services_world import DAY, World, book, exactly, starts

pytestmark = pytest.mark.django_db


# --- booking ----------------------------------------------------------------------


def test_booking_consumes_the_hold_and_tells_the_location(world, agent, heard):
    call = services.call_start(agent=agent, caller_phone="(303) 555-0100")
    hold = services.hold_place(slot=world.slots[0], by=agent, call=call)

    appt = services.appointment_book(
        hold=hold,
        patient=world.patient,
        appointment_type=world.checkup,
        by=agent,
        reason="recall",
        call=call,
    )

    hold.refresh_from_db()
    assert hold.consumed_at is not None
    assert appt.status == "booked" and appt.booked_by == agent and appt.call == call
    assert Slot.objects.get(pk=world.slots[0].pk).status == "booked"
    event = OutboxEvent.objects.get()
    assert (event.event_type, event.aggregate_id, event.location_id) == (
        outbox.APPOINTMENT_BOOKED,
        appt.pk,
        world.location.pk,
    )
    assert [e[0] for e in heard] == ["hold", "booked"]
    call.refresh_from_db()
    assert call.patient == world.patient


def test_a_long_visit_takes_consecutive_units_and_an_equipped_room(world, agent):
    plain = Room.objects.create(location=world.location, code="op2", name="Op 2")
    equipped = Room.objects.create(location=world.location, code="op1", name="Op 1")
    equipped.equipment.add(Equipment.objects.get(code="cbct"))

    appt = book(world, agent, type_=world.consult)

    assert appt.end - appt.start == timedelta(minutes=60)
    assert appt.room == equipped
    assert sorted(AppointmentSlot.objects.values_list("slot_id", flat=True)) == [
        world.slots[0].pk,
        world.slots[1].pk,
    ]
    assert plain.appointments.count() == 0


def test_a_visit_longer_than_the_free_run_does_not_fit(world, agent):
    f.appointment(patient=f.patient(), slot=world.slots[1], appointment_type=world.checkup)
    hold = services.hold_place(slot=world.slots[0], by=agent)

    with pytest.raises(
        services.SlotUnavailable, match=exactly("This slot is no longer available.")
    ):
        services.appointment_book(
            hold=hold,
            patient=world.patient,
            appointment_type=world.consult,
            by=agent,
            reason="recall",
        )
    assert Appointment.objects.count() == 1


def test_a_visit_running_past_the_providers_day_is_the_wrong_fit(world, agent):
    hold = services.hold_place(slot=world.slots[-1], by=agent)

    with pytest.raises(
        services.SlotWrongFit, match=exactly("This slot does not fit this appointment type.")
    ):
        services.appointment_book(
            hold=hold,
            patient=world.patient,
            appointment_type=world.consult,
            by=agent,
            reason="recall",
        )
    assert not Appointment.objects.exists()


def test_the_second_unit_held_by_someone_else_blocks_a_long_visit(world, agent, other_agent):
    services.hold_place(slot=world.slots[1], by=other_agent)
    hold = services.hold_place(slot=world.slots[0], by=agent)

    with pytest.raises(services.SlotHeld):
        services.appointment_book(
            hold=hold,
            patient=world.patient,
            appointment_type=world.consult,
            by=agent,
            reason="recall",
        )
    assert not Appointment.objects.exists()


def test_someone_elses_hold_cannot_be_booked(world, agent, other_agent):
    hold = services.hold_place(slot=world.slots[0], by=other_agent)

    with pytest.raises(services.HoldNotYours, match=exactly("This hold belongs to another agent.")):
        services.appointment_book(
            hold=hold,
            patient=world.patient,
            appointment_type=world.checkup,
            by=agent,
            reason="recall",
        )
    assert not Appointment.objects.exists() and not OutboxEvent.objects.exists()
    hold.refresh_from_db()
    assert hold.consumed_at is None


def test_an_expired_hold_cannot_be_booked(world, agent):
    hold = services.hold_place(slot=world.slots[0], by=agent)
    Hold.objects.filter(pk=hold.pk).update(
        created_at=timezone.now() - timedelta(minutes=10),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    with pytest.raises(services.HoldExpired, match=starts("This hold has expired or was released")):
        services.appointment_book(
            hold=hold,
            patient=world.patient,
            appointment_type=world.checkup,
            by=agent,
            reason="recall",
        )
    assert not Appointment.objects.exists()


def test_the_rules_refuse_a_location_without_the_equipment(world, agent):
    start = DAY + timedelta(days=1)
    bare = f.slot(provider=world.provider, location=world.other_location, start=start)
    f.slot(
        provider=world.provider, location=world.other_location, start=start + timedelta(minutes=30)
    )
    world.provider.locations.add(world.other_location)
    hold = services.hold_place(slot=bare, by=agent)

    with pytest.raises(services.RuleViolation) as caught:
        services.appointment_book(
            hold=hold,
            patient=world.patient,
            appointment_type=world.consult,
            by=agent,
            reason="recall",
        )

    assert str(caught.value) == "The scheduling rules exclude this booking."
    assert caught.value.details == [
        f"{world.other_location.name} has no CBCT, which Implant consult needs"
    ]
    assert not Appointment.objects.exists()
    hold.refresh_from_db()
    assert hold.consumed_at is None and hold.released_at is None


def test_a_patients_clinical_need_for_equipment_is_enforced(world, agent):
    wheelchair = Equipment.objects.create(
        code="wheelchair-op", name="Wheelchair-accessible operatory"
    )
    ClinicalFact.objects.create(
        patient=world.patient,
        kind="need",
        description="Uses a wheelchair",
        requires_equipment=wheelchair,
        recorded_at=timezone.now(),
    )

    with pytest.raises(services.RuleViolation) as caught:
        book(world, agent)
    assert "has no Wheelchair-accessible operatory" in caught.value.details[0]
    assert "Uses a wheelchair" not in caught.value.details[0]


def test_out_of_network_needs_an_override_reason(world, agent):
    plan = f.plan()
    f.coverage(patient=world.patient, plan=plan)
    f.in_network(plan=plan, location=world.location)  # the location, not the provider

    with pytest.raises(services.RuleViolation) as caught:
        book(world, agent)
    assert caught.value.details == [f"{world.provider} is out of network for {plan}"]
    services.hold_release(hold=Hold.objects.get(), by=agent)

    appt = book(world, agent, network_override_reason="Patient accepts out-of-network cost")
    assert appt.network_override_reason == "Patient accepts out-of-network cost"


def test_only_permitted_users_may_override_the_network(world, outsider):
    plan = f.plan()
    f.coverage(patient=world.patient, plan=plan)

    with pytest.raises(services.NetworkOverrideNotAllowed):
        book(world, outsider, network_override_reason="because")
    assert not Appointment.objects.exists()


def test_an_age_outside_the_providers_range_is_refused(world, agent):
    world.provider.min_patient_age = 18
    world.provider.save()
    child = f.patient(
        date_of_birth=date.today().replace(year=date.today().year - 8) - timedelta(days=2)
    )

    with pytest.raises(services.RuleViolation) as caught:
        book(world, agent, patient=child)
    assert caught.value.details == [f"patient is 8; {world.provider} sees 18 and over"]


def test_a_bad_reason_code_changes_nothing(world, agent):
    hold = services.hold_place(slot=world.slots[0], by=agent)

    with pytest.raises(services.InvalidReason, match=exactly("Choose a reason from the list.")):
        services.appointment_book(
            hold=hold,
            patient=world.patient,
            appointment_type=world.checkup,
            by=agent,
            reason="bored",
        )
    assert not Appointment.objects.exists()


# --- reschedule and cancel --------------------------------------------------------------


def test_rescheduling_moves_the_booking_and_frees_the_old_units(world, agent, heard):
    old = book(world, agent, type_=world.consult)
    hold = services.hold_place(slot=world.slots[3], by=agent)

    new = services.appointment_reschedule(
        appointment=old, hold=hold, by=agent, reason="patient_request"
    )

    old.refresh_from_db()
    assert old.status == "rescheduled" and old.cancel_reason == "patient_request"
    assert new.rescheduled_from == old and new.start == world.slots[3].start
    assert Slot.objects.get(pk=world.slots[0].pk).status == "free"
    assert Slot.objects.get(pk=world.slots[4].pk).status == "booked"
    event = OutboxEvent.objects.order_by("pk").last()
    assert event.event_type == outbox.APPOINTMENT_RESCHEDULED
    assert (event.aggregate_id, event.payload) == (new.pk, {"previous_id": old.pk})
    assert heard[-1][0] == "rescheduled" and heard[-1][1]["previous"].pk == old.pk
    assert sorted(services.freed_slot_ids(old)) == [world.slots[0].pk, world.slots[1].pk]


def test_moving_out_of_network_needs_a_reason_and_the_permission(world, agent, outsider):
    plan = f.plan()
    f.coverage(patient=world.patient, plan=plan)
    in_network = f.provider(capabilities=["general"], locations=[world.location])
    f.in_network(plan=plan, provider=in_network)
    f.in_network(plan=plan, location=world.location)
    slot = f.slot(provider=in_network, location=world.location, start=DAY + timedelta(hours=4))
    old = book(world, agent, slot=slot)
    assert old.network_override_reason == ""

    hold = services.hold_place(slot=world.slots[3], by=agent)  # world.provider: not in network
    with pytest.raises(services.RuleViolation) as caught:
        services.appointment_reschedule(appointment=old, hold=hold, by=agent, reason="other")
    assert caught.value.details == [f"{world.provider} is out of network for {plan}"]
    old.refresh_from_db()
    assert old.status == "booked", "a refused move leaves the booking standing"

    other_hold = services.hold_place(slot=world.slots[4], by=outsider)
    with pytest.raises(services.NetworkOverrideNotAllowed):
        services.appointment_reschedule(
            appointment=old,
            hold=other_hold,
            by=outsider,
            reason="other",
            network_override_reason="Only Dr. Lee does this",
        )

    new = services.appointment_reschedule(
        appointment=old,
        hold=hold,
        by=agent,
        reason="patient_request",
        network_override_reason="  Patient wants Dr. Lee, accepts the cost  ",
    )
    assert new.provider == world.provider
    assert new.network_override_reason == "Patient wants Dr. Lee, accepts the cost"


def test_a_closed_panel_provider_can_still_move_a_new_patients_booking(world, agent):
    old = book(world, agent)
    world.provider.accepts_new_patients = False
    world.provider.save()
    hold = services.hold_place(slot=world.slots[4], by=agent)

    new = services.appointment_reschedule(appointment=old, hold=hold, by=agent, reason="other")

    assert new.provider == world.provider and new.status == "booked"


def test_a_failed_reschedule_leaves_the_old_booking_standing(world, agent, other_agent):
    old = book(world, agent)
    hold = services.hold_place(slot=world.slots[3], by=other_agent)

    with pytest.raises(services.HoldNotYours):
        services.appointment_reschedule(appointment=old, hold=hold, by=agent, reason="other")

    old.refresh_from_db()
    assert old.status == "booked"
    assert Slot.objects.get(pk=world.slots[0].pk).status == "booked"


def test_cancelling_frees_the_slot_and_shows_who_is_waiting(world, agent, heard):
    appt = book(world, agent)
    waiting = services.waitlist_add(
        patient=f.patient(),
        appointment_type=world.checkup,
        by=agent,
        earliest=DAY.date() - timedelta(days=1),
        latest=DAY.date() + timedelta(days=3),
        time_of_day="morning",
    )
    services.waitlist_add(  # wants afternoons only: no match for a 09:00 slot
        patient=f.patient(),
        appointment_type=world.checkup,
        by=agent,
        earliest=DAY.date(),
        latest=DAY.date(),
        time_of_day="afternoon",
    )

    cancelled = services.appointment_cancel(appointment=appt, by=agent, reason="patient_ill")

    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "patient_ill"
    assert Slot.objects.get(pk=world.slots[0].pk).status == "free"
    assert OutboxEvent.objects.order_by("pk").last().event_type == outbox.APPOINTMENT_CANCELLED
    assert heard[-1][0] == "cancelled"
    matches = selectors.waitlist_matches_for_slots(slot_ids=services.freed_slot_ids(cancelled))
    assert [m.entry_id for m in matches] == [waiting.pk]


def test_cancelling_twice_says_it_is_not_active(world, agent):
    appt = book(world, agent)
    services.appointment_cancel(appointment=appt, by=agent, reason="other")

    with pytest.raises(services.AppointmentNotActive):
        services.appointment_cancel(appointment=appt, by=agent, reason="other")
    assert OutboxEvent.objects.filter(event_type=outbox.APPOINTMENT_CANCELLED).count() == 1


def test_a_cancel_without_a_valid_reason_changes_nothing(world, agent):
    appt = book(world, agent)

    with pytest.raises(services.InvalidReason):
        services.appointment_cancel(appointment=appt, by=agent, reason="")
    appt.refresh_from_db()
    assert appt.status == "booked"


# --- the patient's own calendar --------------------------------------------------------


def _second_site(world: World) -> list[Slot]:
    other = f.provider(capabilities=["general"], locations=[world.other_location])
    return [
        f.slot(provider=other, location=world.other_location, start=DAY + timedelta(minutes=30 * i))
        for i in range(4)
    ]


def test_a_patient_cannot_be_booked_into_overlapping_visits_at_two_locations(world, agent):
    book(world, agent, slot=world.slots[0], type_=world.consult)  # 09:00-10:00
    elsewhere = _second_site(world)
    name = world.location.name

    with pytest.raises(services.RuleViolation) as refused:
        book(world, agent, slot=elsewhere[1])  # 09:30 at the other location
    assert f"the patient already has a visit at {name} 09:00\u201310:00 that day" in str(
        refused.value.details
    )
    assert Appointment.objects.filter(patient=world.patient).count() == 1

    later = book(world, agent, slot=elsewhere[2])  # 10:00, back to back: allowed
    assert later.status == Appointment.Status.BOOKED

    offered = selectors.slot_search(
        patient=world.patient, appointment_type=world.checkup, home_region_only=False
    )
    starts_offered = {o.start for o in offered.options}
    assert DAY + timedelta(minutes=30) not in starts_offered
    assert DAY + timedelta(minutes=90) in starts_offered


def test_rescheduling_may_overlap_the_appointment_being_moved(world, agent):
    first = book(world, agent, slot=world.slots[0])  # checkup 09:00-09:30
    elsewhere = _second_site(world)
    kw = {"patient": world.patient, "appointment_type": world.checkup, "home_region_only": False}
    assert elsewhere[0].start not in {o.start for o in selectors.slot_search(**kw).options}
    moving = selectors.slot_search(**kw, rescheduling=first)
    assert elsewhere[0].start in {o.start for o in moving.options}

    # Same time, other location: the old booking is no clash for its own move.
    hold = services.hold_place(slot=elsewhere[0], by=agent)
    moved = services.appointment_reschedule(
        appointment=first, hold=hold, by=agent, reason="patient_request"
    )
    assert moved.start == first.start and moved.location_id == world.other_location.pk


def test_it_refuses_to_book_a_freed_slot_inside_the_providers_time_off(world, agent):
    first = book(world, agent)
    services.appointment_cancel(appointment=first, by=agent, reason="patient_request")
    TimeOff.objects.create(
        provider=world.provider,
        starts_at=world.slots[0].start,
        ends_at=world.slots[0].end,
        reason="conference",
    )

    with pytest.raises(services.RuleViolation) as refused:
        book(world, agent, patient=f.patient())

    assert refused.value.details == [f"{world.provider} is on time off then"]


def test_it_refuses_to_book_a_slot_on_a_closure_day(world, agent):
    LocationClosure.objects.create(
        location=world.location, date=world.location.local(DAY).date(), reason="Snow"
    )

    with pytest.raises(services.RuleViolation) as refused:
        book(world, agent)

    day = world.location.local(DAY)
    assert refused.value.details == [f"{world.location.name} is closed on {day:%a %b} {day.day}"]
