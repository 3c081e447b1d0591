"""A waitlist entry's life: open, offered by an agent, booked by whatever booking fits it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling import selectors, services
from scheduling.models import Waitlist
from tests import factories as f

from .services_world import DAY, World, book

pytestmark = pytest.mark.django_db


def _entry(world: World, agent, **kw) -> Waitlist:
    day = world.location.local(DAY).date()
    return services.waitlist_add(
        patient=kw.pop("patient", world.patient),
        appointment_type=kw.pop("appointment_type", world.checkup),
        by=agent,
        earliest=kw.pop("earliest", day),
        latest=kw.pop("latest", day),
        **kw,
    )


def test_a_booking_that_fits_the_entry_closes_it_as_booked(world, agent):
    entry = _entry(world, agent)

    appointment = book(world, agent)

    entry.refresh_from_db()
    assert entry.status == Waitlist.Status.BOOKED
    assert entry.appointment == appointment and entry.closed_at is not None


def test_a_booking_outside_the_window_or_of_another_type_leaves_the_entry_waiting(world, agent):
    later = _entry(
        world,
        agent,
        earliest=(DAY + timedelta(days=3)).date(),
        latest=(DAY + timedelta(days=9)).date(),
    )
    other_type = _entry(world, agent, appointment_type=world.consult)

    book(world, agent)

    assert set(Waitlist.objects.values_list("pk", "status")) == {
        (later.pk, "open"),
        (other_type.pk, "open"),
    }


def test_offering_a_freed_slot_marks_the_entry_offered_until_it_is_booked(world, agent):
    entry = _entry(world, agent)

    assert services.waitlist_offer(entry=entry, slot=world.slots[0], by=agent)
    entry.refresh_from_db()
    assert entry.status == "offered" and entry.offered_slot == world.slots[0]
    assert entry.offered_by == agent

    book(world, agent)
    entry.refresh_from_db()
    assert entry.status == "booked"
    assert not services.waitlist_offer(entry=entry, slot=world.slots[1], by=agent)


def test_a_front_desk_booking_fills_the_entry_too(world, agent):
    entry = _entry(world, agent)

    services.appointment_record_external(
        patient=world.patient,
        provider=world.provider,
        location=world.location,
        appointment_type=world.checkup,
        start=world.slots[2].start,
        end=world.slots[2].end,
        external_id="PMS-1",
    )

    entry.refresh_from_db()
    assert entry.status == "booked" and entry.appointment.channel == "location"


def test_a_withdrawn_entry_is_closed_and_no_longer_matched(world, agent):
    entry = _entry(world, agent, patient=f.patient())
    first = book(world, agent)
    services.appointment_cancel(appointment=first, by=agent, reason="patient_request")
    assert [
        m.entry_id for m in selectors.waitlist_matches_for_slots(slot_ids=[world.slots[0].pk])
    ] == [entry.pk]

    assert services.waitlist_close(entry=entry, by=agent)

    entry.refresh_from_db()
    assert entry.status == "closed"
    assert selectors.waitlist_matches_for_slots(slot_ids=[world.slots[0].pk]) == []
