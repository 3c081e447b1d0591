from __future__ import annotations

import pytest
from django.db import transaction

from integrations.models import OutboxEvent
from integrations.outbox import APPOINTMENT_BOOKED, outbox_enqueue

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_written_in_a_rolled_back_change_disappears_with_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_enqueue(event_type=APPOINTMENT_BOOKED, aggregate_type="appointment", aggregate_id=7)
        raise RuntimeError("the booking failed after the event was written")
    assert not OutboxEvent.objects.exists()


def test_it_refuses_to_write_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the domain change's transaction"):
        outbox_enqueue(event_type=APPOINTMENT_BOOKED, aggregate_type="appointment", aggregate_id=7)


def test_it_refuses_unknown_event_names():
    with pytest.raises(ValueError, match="Unknown outbox event type"), transaction.atomic():
        outbox_enqueue(event_type="appointment.teleported", aggregate_type="a", aggregate_id=1)


def test_a_committed_event_is_due_now():
    with transaction.atomic():
        event = outbox_enqueue(
            event_type=APPOINTMENT_BOOKED, aggregate_type="appointment", aggregate_id=7
        )
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.PENDING
    assert event.next_attempt_at == event.created_at
