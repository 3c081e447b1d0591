"""Holds, booking, reschedule, cancel, PMS changes, calls and the waitlist, end to end
through the services against the real database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from integrations import outbox
from integrations.models import OutboxEvent
from patients.models import ClinicalFact
from scheduling import selectors, services, signals
from scheduling.models import (
    Appointment,
    AppointmentSlot,
    Call,
    Equipment,
    Hold,
    Room,
    Slot,
    Waitlist,
)
from tests import factories as f

pytestmark = pytest.mark.django_db

# 16:00 UTC is 09:00 in Denver (MST) on a weekday a few days out.
DAY = (datetime.now(tz=UTC) + timedelta(days=5)).replace(hour=16, minute=0, second=0, microsecond=0)


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def starts(message: str) -> str:
    return f"^{re.escape(message)}"


class World:
    def __init__(self) -> None:
        self.location = f.location(equipment=["pano", "cbct"])
        self.other_location = f.location(region=self.location.region, equipment=["pano"])
        self.provider = f.provider(capabilities=["general", "implants"], locations=[self.location])
        self.slots = [
            f.slot(
                provider=self.provider,
                location=self.location,
                start=DAY + timedelta(minutes=30 * i),
            )
            for i in range(6)
        ]
        self.checkup = f.appointment_type(capabilities=["general"], duration_minutes=30)
        self.consult = f.appointment_type(
            capabilities=["implants"],
            equipment=["cbct"],
            duration_minutes=60,
            name="Implant consult",
        )
        self.patient = f.patient()


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def heard():
    events: list[tuple[str, dict]] = []

    def on_hold(sender, **kw):
        events.append(("hold", kw))

    def on_change(sender, **kw):
        events.append((kw["event"], kw))

    signals.hold_placed.connect(on_hold)
    signals.appointment_changed.connect(on_change)
    yield events
    signals.hold_placed.disconnect(on_hold)
    signals.appointment_changed.disconnect(on_change)


def book(world: World, agent: User, *, slot: Slot | None = None, type_=None, **kw) -> Appointment:
    hold = services.hold_place(slot=slot or world.slots[0], by=agent)
    return services.appointment_book(
        hold=hold,
        patient=kw.pop("patient", world.patient),
        appointment_type=type_ or world.checkup,
        by=agent,
        reason="new_problem",
        **kw,
    )


# --- holds -------------------------------------------------------------------------


def test_a_hold_keeps_other_agents_off_the_slot(world, agent, other_agent, heard):
    hold = services.hold_place(slot=world.slots[0], by=agent)

    assert hold.expires_at - hold.created_at == timedelta(minutes=3)
    with pytest.raises(services.SlotHeld, match=exactly("This slot is held by another agent.")):
        services.hold_place(slot=world.slots[0], by=other_agent)
    assert [e[0] for e in heard] == ["hold"]


def test_holding_again_renews_the_agents_own_hold(world, agent, settings):
    settings.HOLD_MINUTES = 5
    first = services.hold_place(slot=world.slots[0], by=agent)
    again = services.hold_place(slot=world.slots[0], by=agent)

    assert again.pk == first.pk
    assert Hold.objects.count() == 1
    assert again.expires_at >= first.expires_at


def test_an_expired_hold_lets_another_agent_in(world, agent, other_agent):
    hold = services.hold_place(slot=world.slots[0], by=agent)
    Hold.objects.filter(pk=hold.pk).update(
        created_at=timezone.now() - timedelta(minutes=10),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    taken = services.hold_place(slot=world.slots[0], by=other_agent)

    assert taken.held_by == other_agent
    hold.refresh_from_db()
    assert hold.released_at is not None


def test_holding_for_a_long_visit_holds_its_whole_run(world, agent, other_agent, heard):
    hold = services.hold_place(slot=world.slots[0], by=agent, appointment_type=world.consult)

    assert Hold.objects.filter(held_by=agent, released_at__isnull=True).count() == 2
    assert [e[0] for e in heard] == ["hold"]
    with pytest.raises(services.SlotHeld):
        services.hold_place(slot=world.slots[1], by=other_agent)

    appt = services.appointment_book(
        hold=hold, patient=world.patient, appointment_type=world.consult, by=agent, reason="recall"
    )
    assert appt.end - appt.start == timedelta(minutes=60)
    assert not Hold.objects.filter(consumed_at__isnull=True, released_at__isnull=True).exists()


def test_releasing_a_long_visits_hold_frees_the_whole_run(world, agent, other_agent):
    hold = services.hold_place(slot=world.slots[0], by=agent, appointment_type=world.consult)

    services.hold_release(hold=hold, by=agent)

    assert services.hold_place(slot=world.slots[1], by=other_agent).held_by == other_agent


def open_hold_slots() -> set[int]:
    return set(
        Hold.objects.filter(released_at__isnull=True, consumed_at__isnull=True).values_list(
            "slot_id", flat=True
        )
    )


def test_releasing_a_hold_renewed_for_a_long_visit_frees_its_tail_too(world, agent, other_agent):
    # Held first without the visit type, then again with it: the first unit's hold is
    # renewed and the tail's hold is created later.
    first = services.hold_place(slot=world.slots[0], by=agent)
    again = services.hold_place(slot=world.slots[0], by=agent, appointment_type=world.consult)
    assert again.pk == first.pk and open_hold_slots() == {world.slots[0].pk, world.slots[1].pk}
    elsewhere = services.hold_place(slot=world.slots[4], by=agent)

    services.hold_release(hold=first, by=agent)

    # The run is free for anyone at once; the agent's unrelated hold two units on stays.
    assert services.hold_place(slot=world.slots[1], by=other_agent).held_by == other_agent
    assert open_hold_slots() == {world.slots[1].pk, world.slots[4].pk}
    elsewhere.refresh_from_db()
    assert elsewhere.released_at is None


def test_releasing_a_calls_holds_frees_tails_placed_off_the_call(world, agent, other_agent):
    call = services.call_start(agent=agent)
    services.hold_place(slot=world.slots[0], by=agent, call=call)
    services.hold_place(slot=world.slots[0], by=agent, appointment_type=world.consult)
    other = services.hold_place(slot=world.slots[3], by=other_agent)

    assert services.hold_release_for_call(call=call, by=agent) == 2

    assert open_hold_slots() == {world.slots[3].pk}
    other.refresh_from_db()
    assert other.released_at is None


def test_wrapping_up_a_call_frees_the_tails_of_its_holds(world, agent):
    call = services.call_start(agent=agent)
    services.hold_place(slot=world.slots[2], by=agent, call=call)
    services.hold_place(slot=world.slots[2], by=agent, appointment_type=world.consult)

    services.call_wrap_up(call=call, by=agent, outcome="info_only")

    assert open_hold_slots() == set()


def test_a_long_visit_cannot_be_held_where_it_does_not_fit(world, agent):
    with pytest.raises(services.SlotWrongFit):
        services.hold_place(slot=world.slots[-1], by=agent, appointment_type=world.consult)
    assert not Hold.objects.exists()


def test_a_slot_in_the_past_cannot_be_held(world, agent):
    past = f.slot(provider=world.provider, location=world.location, start=DAY - timedelta(days=30))

    with pytest.raises(services.SlotInPast, match=exactly("This slot is in the past.")):
        services.hold_place(slot=past, by=agent)
    assert not Hold.objects.exists()


def test_releasing_a_hold_frees_the_slot_and_only_its_owner_may(world, agent, other_agent):
    hold = services.hold_place(slot=world.slots[0], by=agent)

    with pytest.raises(services.HoldNotYours):
        services.hold_release(hold=hold, by=other_agent)
    services.hold_release(hold=hold, by=agent)

    assert services.hold_place(slot=world.slots[0], by=other_agent).held_by == other_agent


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


# --- changes from a location's PMS ------------------------------------------------------


def test_a_front_desk_booking_occupies_the_units_without_echo(world, agent):
    appt = services.appointment_record_external(
        patient=world.patient,
        provider=world.provider,
        location=world.location,
        appointment_type=world.consult,
        start=world.slots[2].start,
        end=world.slots[3].end,
        origin_connector_id=7,
        external_id="PMS-1",
    )
    again = services.appointment_record_external(
        patient=world.patient,
        provider=world.provider,
        location=world.location,
        appointment_type=world.consult,
        start=world.slots[2].start,
        end=world.slots[3].end,
        origin_connector_id=7,
        external_id="PMS-1",
    )

    assert again.pk == appt.pk and appt.channel == "location"
    found = selectors.appointment_by_external_id(location=world.location, external_id="PMS-1")
    assert found == appt
    assert (
        selectors.appointment_by_external_id(location=world.other_location, external_id="PMS-1")
        is None
    )
    assert set(Slot.objects.filter(status="booked").values_list("pk", flat=True)) == {
        world.slots[2].pk,
        world.slots[3].pk,
    }
    assert OutboxEvent.objects.get().payload == {"origin_connector_id": 7}
    with pytest.raises(services.SlotUnavailable):
        book(world, agent, slot=world.slots[3])


def test_a_front_desk_booking_over_a_booked_unit_is_refused(world, agent):
    book(world, agent)

    with pytest.raises(services.SlotUnavailable):
        services.appointment_record_external(
            patient=f.patient(),
            provider=world.provider,
            location=world.location,
            appointment_type=world.checkup,
            start=world.slots[0].start,
            end=world.slots[0].end,
        )
    assert Appointment.objects.count() == 1


def test_pms_moves_cancels_and_no_shows_apply(world, agent):
    appt = services.appointment_record_external(
        patient=world.patient,
        provider=world.provider,
        location=world.location,
        appointment_type=world.checkup,
        start=world.slots[0].start,
        end=world.slots[0].end,
        external_id="PMS-2",
    )

    moved = services.appointment_update_external(
        appointment=appt, start=world.slots[4].start, origin_connector_id=3
    )
    assert moved.start == world.slots[4].start and moved.end == world.slots[4].end
    assert Slot.objects.get(pk=world.slots[0].pk).status == "free"
    assert Slot.objects.get(pk=world.slots[4].pk).status == "booked"
    assert OutboxEvent.objects.order_by("pk").last().event_type == outbox.APPOINTMENT_MODIFIED

    with pytest.raises(services.InvalidExternalStatus):
        services.appointment_update_external(appointment=appt, status="cancelled")
    arrived = services.appointment_update_external(appointment=appt, status="arrived")
    assert arrived.status == "arrived"

    services.appointment_cancel_external(appointment=appt, origin_connector_id=3)
    appt.refresh_from_db()
    assert appt.status == "cancelled" and appt.cancel_reason == "other"
    assert Slot.objects.get(pk=world.slots[4].pk).status == "free"


def test_a_no_show_only_after_the_start(world, agent):
    appt = book(world, agent)
    with pytest.raises(services.AppointmentNotStarted):
        services.appointment_mark_no_show(appointment=appt)

    Appointment.objects.filter(pk=appt.pk).update(
        start=timezone.now() - timedelta(hours=2), end=timezone.now() - timedelta(hours=1)
    )
    services.appointment_mark_no_show(appointment=appt, origin_connector_id=4)

    appt.refresh_from_db()
    assert appt.status == "no_show"
    assert OutboxEvent.objects.order_by("pk").last().event_type == outbox.APPOINTMENT_NO_SHOW


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


def test_a_call_records_why_the_patient_called(agent):
    with pytest.raises(services.InvalidReason):
        services.call_start(agent=agent, reason="because")
    call = services.call_start(agent=agent, reason="recall")
    with pytest.raises(services.InvalidReason):
        services.call_wrap_up(call=call, by=agent, outcome="info_only", reason="because")
    assert Call.objects.get(pk=call.pk).ended_at is None

    ended = services.call_wrap_up(call=call, by=agent, outcome="info_only", reason="billing")
    assert Call.objects.get(pk=ended.pk).reason == "billing"
