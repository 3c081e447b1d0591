from __future__ import annotations

from datetime import time, timedelta

import pytest

from scheduling.changes.apply import (
    ChangeInvalid,
    ClosureExists,
    location_closure_add,
    schedule_template_end,
    schedule_template_save,
)
from scheduling.models import RebookingItem, Slot

from .world import Network, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def net() -> Network:
    return Network()


def test_a_weather_closure_clears_the_day_for_everyone_and_lists_its_visits(
    net, agent, ops_manager
):
    mine = net.book(agent, net.slot(9))
    theirs = net.book(agent, net.slot(9, provider=net.colleague))
    day_start, day_end = at(net.day, 0), at(net.day + timedelta(days=1), 0)

    change = location_closure_add(location=net.location, day=net.day, reason="Snow", by=ops_manager)

    assert {i.appointment_id for i in change.items} == {mine.pk, theirs.pk}
    assert {i.cause for i in change.items} == {RebookingItem.Cause.CLOSURE}
    for prov in (net.provider, net.colleague):
        assert net.free_inside(day_start, day_end, provider=prov) == 0
    # alternatives are on other days: the location is closed all day
    for item in change.items:
        for slot in Slot.objects.filter(pk__in=item.suggestions):
            assert not day_start <= slot.start < day_end
    assert (
        net.free_inside(at(net.day + timedelta(days=1), 8), at(net.day + timedelta(days=1), 12))
        == 8
    )


def test_closing_a_closed_day_again_is_refused(net, ops_manager):
    location_closure_add(location=net.location, day=net.day, reason="Snow", by=ops_manager)

    with pytest.raises(ClosureExists):
        location_closure_add(location=net.location, day=net.day, reason="Ice", by=ops_manager)


def test_longer_hours_add_slots_and_shorter_hours_list_the_visits_left_outside(
    net, agent, ops_manager
):
    template = net.templates[net.provider.pk][net.day.weekday()]
    late = net.book(agent, net.slot(11, 30))

    longer = schedule_template_save(
        provider=net.provider, template=template, by=ops_manager, end_time=time(14)
    )

    assert longer.created >= 4  # 12:00 to 14:00 on every such weekday in the horizon
    assert Slot.objects.filter(provider=net.provider, start=at(net.day, 13, 30)).exists()
    assert longer.items == ()

    shorter = schedule_template_save(
        provider=net.provider, template=template, by=ops_manager, end_time=time(11)
    )

    assert [i.appointment_id for i in shorter.items] == [late.pk]
    assert not Slot.objects.filter(
        provider=net.provider, start=at(net.day, 13, 30), status=Slot.Status.FREE
    ).exists()
    assert net.free_inside(at(net.day, 11), at(net.day, 12)) == 0


def test_a_break_that_lies_outside_the_hours_is_a_form_error_not_a_crash(net, ops_manager):
    template = net.templates[net.provider.pk][0]

    with pytest.raises(ChangeInvalid) as raised:
        schedule_template_save(
            provider=net.provider,
            template=template,
            by=ops_manager,
            break_start=time(13),
            break_end=time(14),
        )
    assert "A break must lie inside the template's hours." in raised.value.details


def test_ending_a_template_removes_its_later_slots(net, ops_manager):
    template = net.templates[net.provider.pk][net.day.weekday()]

    schedule_template_end(template=template, last_day=net.day - timedelta(days=1), by=ops_manager)

    assert net.free_inside(at(net.day, 0), at(net.day + timedelta(days=1), 0)) == 0
    assert (
        net.free_inside(at(net.day + timedelta(days=1), 0), at(net.day + timedelta(days=2), 0)) == 8
    )
