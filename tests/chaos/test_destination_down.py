"""A location's PMS is down for longer than the retry window: its messages are
dead-lettered (the queue does not stall forever), and once it is back ops resends them
with the existing resend operation; each arrives once, in each patient's order."""

from __future__ import annotations

import pytest

from integrations.models import Message
from integrations.operations import messages_resend
from integrations.tasks import outbox_relay_task
from tests import factories as f
from tests.integrations.conftest import TcpProxy

from .conftest import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]


def _out(**filters):
    return Message.objects.filter(direction="out", **filters)


def test_destination_down_past_the_retries_dead_letters_then_resend_keeps_order(
    processes, pms, broker, bookings, mllp_server
):
    pms_system = mllp_server([])
    link = TcpProxy("127.0.0.1", pms_system.port)
    link.block()  # the PMS is unreachable: every connection is refused at once
    pms.endpoint = f"127.0.0.1:{link.port}"
    pms.save()
    processes.worker(INTEGRATIONS_MAX_ATTEMPTS="3", INTEGRATIONS_RETRY_BASE_SECONDS="1")
    try:
        first_patient, second_patient = f.patient(), f.patient()
        a1 = bookings.book(first_patient)
        b1 = bookings.book(second_patient)
        a2 = bookings.book(first_patient)

        def beat_relay_until(done) -> bool:
            outbox_relay_task.apply_async(queue=processes.queue)
            return done()

        wait_for(
            lambda: beat_relay_until(lambda: _out(status="dead").count() == 3),
            "every delivery to be dead-lettered",
        )
        dead = list(_out(status="dead").order_by("pk"))
        assert {m.attempts for m in dead} == {3}
        assert pms_system.received == []

        link.unblock()
        resent = messages_resend(ids=[m.pk for m in dead], by="ops.chaos")
        assert resent == [m.pk for m in dead]
        wait_for(
            lambda: beat_relay_until(lambda: _out(status="sent").count() == 3),
            "the resends to be delivered",
        )
    finally:
        link.stop()

    assert _out(status="dead").count() == 3, "the dead rows stay as they were"
    by_control = {m.control_id: m for m in _out(status="sent").select_related("outbox_event")}
    arrived = [by_control[control].outbox_event.aggregate_id for control, *_ in pms_system.received]
    assert sorted(arrived) == sorted([a1.pk, a2.pk, b1.pk]), "each booking exactly once"
    assert arrived.index(a1.pk) < arrived.index(a2.pk), "the first patient's order is kept"
