"""Two agents racing for the last hygienist: real threads with their own connections,
released together, book two different dentists' slots that both need the one hygienist
free then. Row locks on her slot units, the live-hold index and ``slot_booked_once``
decide: exactly one wins. On PostgreSQL the equipment exclusion constraint holds even
for a write that skips the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from scheduling.models import Appointment, AppointmentSlot, ResourceBooking
from tests import factories as f
from tests.scheduling.resources_world import TwoResourceWorld
from tests.scheduling.services_world import DAY
from tests.scheduling.test_concurrency import agents, race  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_agents_racing_for_the_last_hygienist(agents):  # noqa: F811
    world = TwoResourceWorld()
    patients = [world.patient, f.patient()]
    slots = [world.slot_at(60, dentist=0), world.slot_at(60, dentist=1)]

    outcomes = race(2, lambda i: world.book(agents[i], slots[i], patient=patients[i]))

    assert outcomes == {"ok": 1, "AssistantUnavailable": 1}
    [winner] = Appointment.objects.all()
    assert winner.assistant == world.hygienist
    assert (
        AppointmentSlot.objects.filter(
            slot__in=world.hygiene_slots, active=True, appointment=winner
        ).count()
        == 2
    )


def test_the_database_refuses_overlapping_equipment_bookings():
    if connection.vendor != "postgresql":
        pytest.skip("exclusion constraints are PostgreSQL's; SQLite relies on the locks")
    world = TwoResourceWorld()
    cart = world.cart(world.location)
    now = timezone.now()
    ResourceBooking.objects.create(
        equipment=cart, start=DAY, end=DAY + timedelta(hours=1), reason="Repair", created_at=now
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        ResourceBooking.objects.create(
            equipment=cart,
            start=DAY + timedelta(minutes=30),
            end=DAY + timedelta(hours=2),
            reason="Maintenance",
            created_at=now,
        )
