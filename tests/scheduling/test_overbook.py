"""Overbooking: a permitted user double-books a booked slot with a reason, under the
provider's daily limit; everyone else, and the database itself, still refuse it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction

from config.models import AuditEntry
from config.roles import AGENT, OPS_MANAGER
from scheduling import services
from scheduling.models import Appointment, AppointmentSlot, Slot
from tests import factories as f

from .services_world import book

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor(db) -> User:
    """An ops manager who also works the console."""
    user = User.objects.create_user("supervisor.test", password="pw-for-tests-only")
    user.groups.add(Group.objects.get(name=AGENT), Group.objects.get(name=OPS_MANAGER))
    return user


def overbook(world, by, *, slot=None, patient=None, why="In pain, cannot wait"):
    return services.appointment_overbook(
        slot=slot or world.slots[0],
        patient=patient or f.patient(),
        appointment_type=world.checkup,
        by=by,
        reason="urgent",
        overbook_reason=why,
    )


def test_a_supervisor_double_books_a_booked_slot_with_a_reason(world, agent, supervisor):
    first = book(world, agent)

    second = overbook(world, supervisor)

    assert second.overbooked and second.overbook_reason == "In pain, cannot wait"
    assert (second.provider_id, second.start) == (first.provider_id, first.start)
    links = AppointmentSlot.objects.filter(slot=world.slots[0], active=True)
    assert sorted(links.values_list("overbooked", flat=True)) == [False, True]
    assert AuditEntry.objects.filter(
        content_type__model="appointment", object_pk=str(second.pk)
    ).exists()


def test_without_the_permission_or_a_reason_it_is_refused(world, agent, supervisor):
    book(world, agent)

    with pytest.raises(services.OverbookNotAllowed):
        overbook(world, agent)
    with pytest.raises(services.OverbookReasonMissing):
        overbook(world, supervisor, why="  ")
    with pytest.raises(services.OverbookNeedsBookedSlot):
        overbook(world, supervisor, slot=world.slots[3])
    assert Appointment.objects.filter(overbooked=True).count() == 0


def test_the_daily_limit_refuses_the_next_overbooking(world, agent, supervisor):
    world.provider.overbook_daily_limit = 1
    world.provider.save()
    for slot in world.slots[:2]:
        book(world, agent, slot=slot, patient=f.patient())
    overbook(world, supervisor, slot=world.slots[0])

    with pytest.raises(services.OverbookLimitReached) as refused:
        overbook(world, supervisor, slot=world.slots[1])

    assert refused.value.message == "This provider has reached the day's overbooking limit."
    assert "already has 1 of 1 overbookings" in refused.value.details[0]


def test_a_slot_takes_one_overbooking_only(world, agent, supervisor):
    book(world, agent)
    overbook(world, supervisor)

    with pytest.raises(services.SlotAlreadyOverbooked):
        overbook(world, supervisor)


def test_cancelling_either_booking_leaves_the_slot_booked_for_the_other(world, agent, supervisor):
    first = book(world, agent)
    second = overbook(world, supervisor)

    services.appointment_cancel(appointment=first, by=agent, reason="patient_request")
    assert Slot.objects.get(pk=world.slots[0].pk).status == Slot.Status.BOOKED

    services.appointment_cancel(appointment=second, by=supervisor, reason="patient_request")
    assert Slot.objects.get(pk=world.slots[0].pk).status == Slot.Status.FREE


def test_the_database_refuses_a_plain_second_booking_of_a_slot(world, agent):
    first = book(world, agent)
    twin = Appointment.objects.create(
        patient=f.patient(),
        provider=world.provider,
        location=world.location,
        appointment_type=world.checkup,
        start=first.start + timedelta(days=30),
        end=first.end + timedelta(days=30),
        created_at=first.created_at,
        updated_at=first.created_at,
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentSlot.objects.create(appointment=twin, slot=world.slots[0])
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentSlot.objects.create(appointment=twin, slot=world.slots[0], overbooked=True)
    AppointmentSlot.objects.create(
        appointment=twin, slot=world.slots[0], overbooked=True, overbook_reason="Urgent"
    )


def test_the_api_overbooks_for_a_permitted_user_and_refuses_an_agent(world, agent, supervisor):
    from .test_api import api

    book(world, agent)
    body = {
        "slot_id": world.slots[0].pk,
        "patient_id": f.patient().pk,
        "appointment_type_id": world.checkup.pk,
        "reason": "urgent",
        "overbook_reason": "Swelling since last night",
    }

    refused = api(agent).post("/api/v1/appointments/overbook/", body, format="json")
    made = api(supervisor).post("/api/v1/appointments/overbook/", body, format="json")

    assert refused.status_code == 403
    assert refused.json()["detail"] == "You are not allowed to overbook."
    assert made.status_code == 201 and made.json()["overbooked"] is True
