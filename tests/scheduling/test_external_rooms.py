"""A front-desk booking occupies a room, so the hub does not give that room away again."""

from __future__ import annotations

import pytest

from scheduling import services
from scheduling.models import Room
from tests import factories as f

from .services_world import World, book

pytestmark = pytest.mark.django_db


def _front_desk(world: World, *, provider, slot, room_code: str = "", external_id: str = "PMS-1"):
    return services.appointment_record_external(
        patient=f.patient(),
        provider=provider,
        location=world.location,
        appointment_type=world.checkup,
        start=slot.start,
        end=slot.end,
        external_id=external_id,
        room_code=room_code,
    )


def test_the_hub_does_not_book_a_room_the_front_desk_filled(world, agent):
    only_room = Room.objects.create(location=world.location, code="op1", name="Op 1")
    colleague = f.provider(locations=[world.location])
    their_slot = f.slot(provider=colleague, location=world.location, start=world.slots[0].start)

    pms = _front_desk(world, provider=colleague, slot=their_slot)

    assert pms.room == only_room
    with pytest.raises(services.RoomUnavailable):
        book(world, agent)


def test_the_room_the_pms_names_is_the_one_it_occupies(world):
    Room.objects.create(location=world.location, code="op1", name="Op 1")
    op2 = Room.objects.create(location=world.location, code="op2", name="Op 2")

    pms = _front_desk(world, provider=world.provider, slot=world.slots[0], room_code="op2")

    assert pms.room == op2


def test_a_front_desk_booking_is_never_refused_for_want_of_a_room(world, agent):
    Room.objects.create(location=world.location, code="op1", name="Op 1")
    book(world, agent)
    colleague = f.provider(locations=[world.location])
    their_slot = f.slot(provider=colleague, location=world.location, start=world.slots[0].start)

    pms = _front_desk(world, provider=colleague, slot=their_slot)

    assert pms.room is None and pms.status == "booked"


def test_a_batch_of_front_desk_bookings_take_different_rooms(world):
    rooms = [
        Room.objects.create(location=world.location, code=f"op{i}", name=f"Op {i}") for i in (1, 2)
    ]
    colleague = f.provider(locations=[world.location])
    their_slot = f.slot(provider=colleague, location=world.location, start=world.slots[0].start)
    patient = f.patient()

    results = services.appointments_record_external_batch(
        [
            services.ExternalBooking(
                patient_id=patient.pk if provider is colleague else world.patient.pk,
                provider_id=provider.pk,
                location_id=world.location.pk,
                appointment_type_id=world.checkup.pk,
                start=slot.start,
                end=slot.end,
                external_id=f"PMS-{provider.pk}",
            )
            for provider, slot in ((world.provider, world.slots[0]), (colleague, their_slot))
        ]
    )

    assert sorted(r.room.code for r in results) == [r.code for r in rooms]
