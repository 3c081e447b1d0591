"""The MLLP listener is SIGKILLed mid-stream: what it acknowledged is stored, and the
sender's resends of everything else are stored once (the (sender, MSH-10) index)."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from integrations.models import Message
from tests.integrations.hl7_samples import adt

from .conftest import Sender, stream

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

TOTAL = 300


def test_sigkill_mid_batch_then_resends_are_stored_once(processes, pms, cluster):
    messages = [adt(f"LK{i:04d}", mrn=f"LK{i}", last=f"Kill{i}") for i in range(TOTAL)]
    listener, port = processes.listener()

    def kill_after_a_third(acked: int) -> None:
        if acked >= TOTAL // 3 and listener.poll() is None:
            listener.send_signal(signal.SIGKILL)

    acked_before = stream(port, messages, chunk=5, on_acks=kill_after_a_third)
    listener.wait(10)

    assert TOTAL // 3 <= len(acked_before) < TOTAL, "the listener died mid-stream"
    stored = set(Message.objects.filter(direction="in").values_list("control_id", flat=True))
    assert set(acked_before) <= stored, "every AA names a stored message"

    # The sender resends what it holds no AA for, and (unsure) the last ten it does.
    _, port = processes.listener()
    sender = Sender(port)
    unacked = [m for m in messages if m.split("|")[9] not in set(acked_before)]
    sender.send_until_acked(unacked + messages[len(acked_before) - 10 : len(acked_before)])

    ids = Counter(Message.objects.filter(direction="in").values_list("control_id", flat=True))
    assert len(ids) == TOTAL and set(ids.values()) == {1}
    assert sorted(ids) == sorted(m.split("|")[9] for m in messages)
    assert sum(sender.acks.values()) == len(unacked) + 10, "each resend answered AA once"
