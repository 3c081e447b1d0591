"""Redis is killed and restarted (no persistence: every queued task is lost) while HL7
messages flow in and agents book: every message is stored, acknowledged and applied once,
every booking reaches the location's PMS once, and nobody sees an error."""

from __future__ import annotations

from collections import Counter

import pytest

from integrations.models import Message, OutboxEvent
from integrations.tasks import inbound_sweep_task, outbox_relay_task
from tests.integrations.hl7_samples import adt

from .conftest import Sender, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

PER_PHASE, BOOKINGS_PER_PHASE = 40, 3


def test_broker_restart_loses_no_message_and_no_booking(
    processes, pms, broker, bookings, mllp_server, caplog
):
    pms_system = mllp_server([])
    pms.endpoint = f"127.0.0.1:{pms_system.port}"
    pms.save()
    _, port = processes.listener(dispatch=True)
    processes.worker()
    sender = Sender(port, timeout=10)
    booked = []

    def phase(n: int) -> None:
        sender.send_until_acked(
            [
                adt(
                    f"RB{n}-{i:03d}", mrn=f"RB{n}-{i}", last=f"Broker{n}x{i}", dob=f"19{50 + i}0101"
                )
                for i in range(PER_PHASE)
            ]
        )
        for _ in range(BOOKINGS_PER_PHASE):
            booked.append(bookings.book().pk)

    phase(1)
    broker.kill()
    caplog.clear()
    phase(2)
    failed_kicks = [r for r in caplog.records if "could not queue the outbox relay" in r.message]
    broker.start()
    phase(3)
    # Beat's sweeper and relay find what the lost tasks would have done.
    inbound_sweep_task.apply_async(queue=processes.queue)
    outbox_relay_task.apply_async(queue=processes.queue)

    wait_for(
        lambda: Message.objects.filter(direction="in", status="processed").count() == 3 * PER_PHASE,
        "every inbound message to be applied",
    )
    wait_for(
        lambda: (
            OutboxEvent.objects.filter(event_type="appointment.booked", status="delivered").count()
            == 3 * BOOKINGS_PER_PHASE
        ),
        "every booking to reach the PMS",
    )
    assert set(sender.acks.values()) == {1} and len(sender.acks) == 3 * PER_PHASE
    ledger = Counter(Message.objects.filter(direction="in").values_list("control_id", flat=True))
    assert len(ledger) == 3 * PER_PHASE and set(ledger.values()) == {1}
    sius = [control for control, kind, _ in pms_system.received if kind.startswith("SIU^S12")]
    assert len(sius) == len(set(sius)) == 3 * BOOKINGS_PER_PHASE, "each booking sent once"
    assert len(failed_kicks) == 1, "one booking pays for the broker being down, not each"
