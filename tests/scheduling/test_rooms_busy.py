"""Which rooms a booking may take: a room is busy while an active appointment or an
active block overlaps the visit, and free when they only touch it or have ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from scheduling.models import Appointment, ResourceBooking, Room
from scheduling.services.errors import RoomUnavailable
from scheduling.services.rooms import _rooms_busy, _rooms_busy_query, room_pick
from tests import factories as f

pytestmark = pytest.mark.django_db

NINE = (datetime.now(tz=UTC) + timedelta(days=4)).replace(
    hour=15, minute=0, second=0, microsecond=0
)
HOUR = timedelta(hours=1)


@pytest.fixture
def site():
    location = f.location()
    rooms = [
        Room.objects.create(location=location, code=f"op{i}", name=f"Op {i}") for i in range(5)
    ]
    visit = f.appointment_type()
    now = timezone.now()

    def booked(room: Room, start: datetime, end: datetime, status: str = "booked") -> None:
        Appointment.objects.create(
            patient=f.patient(),
            provider=f.provider(locations=[location]),  # one each: they overlap
            location=location,
            appointment_type=visit,
            room=room,
            start=start,
            end=end,
            status=status,
            cancel_reason="other" if status == "cancelled" else "",
            created_at=now,
            updated_at=now,
        )

    # Op 0 overlaps the visit's start, op 1 is blocked for cleaning across it, op 2's
    # visit ends as this one starts and op 3's starts as it ends, op 4's was cancelled.
    booked(rooms[0], NINE - HOUR / 2, NINE + HOUR / 2)
    ResourceBooking.objects.create(
        room=rooms[1],
        start=NINE + HOUR / 4,
        end=NINE + HOUR / 2,
        reason="sterilization",
        created_at=now,
    )
    booked(rooms[2], NINE - HOUR, NINE)
    booked(rooms[3], NINE + HOUR, NINE + 2 * HOUR)
    booked(rooms[4], NINE, NINE + HOUR, status="cancelled")
    return location, rooms


def test_rooms_overlapped_by_an_active_visit_or_block_are_busy(site):
    _, rooms = site
    ids = [r.pk for r in rooms]

    busy = _rooms_busy(ids, NINE, NINE + HOUR)

    assert busy == {rooms[0].pk, rooms[1].pk}
    assert busy == set(_rooms_busy_query(ids, NINE, NINE + HOUR))
    for start in (NINE - 2 * HOUR, NINE + HOUR / 3, NINE + 3 * HOUR):
        assert _rooms_busy(ids, start, start + HOUR) == set(
            _rooms_busy_query(ids, start, start + HOUR)
        )


def test_the_booking_takes_a_free_room_and_none_when_all_are_taken(site):
    location, rooms = site
    with transaction.atomic():
        room = room_pick(location_id=location.pk, needed=frozenset(), start=NINE, end=NINE + HOUR)
    assert room is not None and room.pk == rooms[2].pk  # the lowest free id, no equipment

    with transaction.atomic():
        taken = room_pick(
            location_id=location.pk,
            needed=frozenset(),
            start=NINE + HOUR / 4,
            end=NINE + HOUR / 2,
        )
    assert taken is not None and taken.pk == rooms[2].pk

    for room in rooms[2:]:
        ResourceBooking.objects.create(
            room=room,
            start=NINE,
            end=NINE + HOUR,
            reason="maintenance",
            created_at=timezone.now(),
        )
    with pytest.raises(RoomUnavailable), transaction.atomic():
        room_pick(location_id=location.pk, needed=frozenset(), start=NINE, end=NINE + HOUR)
