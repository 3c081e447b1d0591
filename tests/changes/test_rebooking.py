from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.models import OutboxEvent
from scheduling.changes.apply import time_off_add
from scheduling.changes.rebook import (
    ItemDone,
    rebooking_item_cancel,
    rebooking_item_rebook,
    rebooking_items_notify,
    rebooking_items_rebook_first,
)
from scheduling.models import Appointment, PatientMessage, RebookingItem, Slot

from .world import Network, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def net() -> Network:
    return Network()


@pytest.fixture
def sick_day(net, agent, ops_manager):
    for hour in (8, 9, 10):
        net.book(agent, net.slot(hour))
    change = time_off_add(
        provider=net.provider,
        starts_at=at(net.day, 0),
        ends_at=at(net.day + timedelta(days=1), 0),
        reason="Sick day",
        by=ops_manager,
    )
    return list(change.items)


def test_rebook_all_moves_every_visit_to_its_first_suggestion_with_siu_messages(
    net, sick_day, ops_manager
):
    firsts = {i.pk: i.suggestions[0] for i in sick_day}

    result = rebooking_items_rebook_first(items=sick_day, by=ops_manager)

    assert (result.done, result.left) == (3, 0)
    for item in RebookingItem.objects.filter(pk__in=firsts):
        assert item.status == RebookingItem.Status.REBOOKED
        assert item.appointment.status == Appointment.Status.RESCHEDULED
        assert item.appointment.cancel_reason == "provider_unavailable"
        new = item.new_appointment
        assert new.status == Appointment.Status.BOOKED
        assert new.slot_links.filter(slot_id=firsts[item.pk]).exists()
        assert OutboxEvent.objects.filter(
            event_type="appointment.rescheduled", aggregate_id=new.pk
        ).exists()
    # the freed units lie inside the time off: none is offered
    assert net.free_inside(at(net.day, 0), at(net.day + timedelta(days=1), 0)) == 0


def test_a_row_can_be_rebooked_to_another_start_and_only_once(net, sick_day, ops_manager):
    item = sick_day[0]
    other = Slot.objects.get(provider=net.colleague, start=at(net.day, 11, 30))

    rebooking_item_rebook(item=item, slot=other, by=ops_manager)

    item.refresh_from_db()
    assert item.new_appointment.start == other.start
    with pytest.raises(ItemDone):
        rebooking_item_rebook(item=item, slot=other, by=ops_manager)


def test_notify_queues_the_new_time_or_a_please_call_text_in_the_outbox(net, sick_day, ops_manager):
    moved, waiting, unreachable = sick_day
    rebooking_item_rebook(item=moved, slot=net.slot(9, provider=net.colleague), by=ops_manager)
    unreachable.appointment.patient.__class__.objects.filter(
        pk=unreachable.appointment.patient_id
    ).update(consent_sms=False)

    result = rebooking_items_notify(items=sick_day, by=ops_manager)

    assert (result.done, result.left) == (2, 1)
    texts = {m.appointment.patient_id: m for m in PatientMessage.objects.all()}
    assert "is now on" in texts[moved.appointment.patient_id].body
    assert "call" in texts[waiting.appointment.patient_id].body.lower()
    assert "3035550111" in texts[waiting.appointment.patient_id].body
    assert OutboxEvent.objects.filter(event_type="patient_message.send").count() == 2
    waiting.refresh_from_db()
    assert waiting.status == RebookingItem.Status.NOTIFIED
    assert rebooking_items_notify(items=sick_day, by=ops_manager).done == 0, "told once"


def test_cancel_is_an_explicit_choice_with_the_change_as_reason(net, sick_day, ops_manager):
    item = rebooking_item_cancel(item=sick_day[0], by=ops_manager)

    assert item.status == RebookingItem.Status.CANCELLED
    assert item.appointment.status == Appointment.Status.CANCELLED
    assert net.free_inside(at(net.day, 0), at(net.day + timedelta(days=1), 0)) == 0


def test_a_visit_moved_from_the_console_closes_its_row(net, sick_day, agent):
    from scheduling import services

    item = sick_day[0]
    hold = services.hold_place(slot=net.slot(11, provider=net.colleague), by=agent)

    new = services.appointment_reschedule(
        appointment=item.appointment, hold=hold, by=agent, reason="provider_unavailable"
    )

    item.refresh_from_db()
    assert (item.status, item.new_appointment_id) == (RebookingItem.Status.REBOOKED, new.pk)


def test_find_other_times_asks_again_when_the_suggestions_were_taken(
    net, sick_day, other_agent, ops_manager
):
    from scheduling import services
    from scheduling.changes.rebook import rebooking_item_refresh

    item = sick_day[0]
    for slot in Slot.objects.filter(pk__in=item.suggestions):
        services.hold_place(slot=slot, by=other_agent)

    fresh = rebooking_item_refresh(item=item, by=ops_manager)

    assert fresh.suggestions and not set(fresh.suggestions) & set(item.suggestions)
