from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling import services
from scheduling.changes.apply import ChangeInvalid, time_off_add
from scheduling.models import Appointment, Hold, RebookingItem, Slot
from scheduling.selectors import slot_search

from .world import Network, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def net() -> Network:
    return Network()


def test_a_sick_day_moves_three_booked_patients_to_the_worklist_and_leaves_no_slot(
    net, agent, other_agent, ops_manager
):
    booked = [net.book(agent, net.slot(hour)) for hour in (8, 9, 10)]
    held = services.hold_place(slot=net.slot(11), by=other_agent)
    day_start, day_end = at(net.day, 0), at(net.day + timedelta(days=1), 0)

    change = time_off_add(
        provider=net.provider,
        starts_at=day_start,
        ends_at=day_end,
        reason="Sick day",
        by=ops_manager,
    )

    assert sorted(i.appointment_id for i in change.items) == sorted(a.pk for a in booked)
    statuses = Appointment.objects.filter(pk__in=[a.pk for a in booked]).values_list(
        "status", flat=True
    )
    assert set(statuses) == {"booked"}, "nothing is cancelled silently"
    assert net.free_inside(day_start, day_end) == 0
    # the hold inside was released (and its slot, now outside the schedule, removed)
    assert not Hold.objects.filter(pk=held.pk, released_at__isnull=True).exists()
    search = slot_search(
        patient=booked[0].patient,
        appointment_type=net.checkup,
        provider=net.provider,
        date_from=net.day,
        date_to=net.day,
    )
    assert search.options == ()
    for item in change.items:
        assert item.status == RebookingItem.Status.OPEN
        assert item.suggestions, "each row offers alternatives"
    first = change.items[0]
    # nearest alternative: the colleague at the same time, not the sick provider
    suggested = Slot.objects.get(pk=first.suggestions[0])
    assert suggested.provider_id == net.colleague.pk
    assert suggested.start == first.appointment.start


def test_a_time_range_takes_only_the_slots_inside_it(net, ops_manager):
    time_off_add(
        provider=net.provider,
        starts_at=at(net.day, 9),
        ends_at=at(net.day, 10),
        reason="Dentist appointment",
        by=ops_manager,
    )

    assert net.free_inside(at(net.day, 9), at(net.day, 10)) == 0
    assert net.free_inside(at(net.day, 8), at(net.day, 9)) == 2
    assert net.free_inside(at(net.day, 10), at(net.day, 12)) == 4


def test_time_off_that_ends_before_it_starts_is_refused(net, ops_manager):
    with pytest.raises(ChangeInvalid):
        time_off_add(
            provider=net.provider,
            starts_at=at(net.day, 10),
            ends_at=at(net.day, 9),
            reason="",
            by=ops_manager,
        )
