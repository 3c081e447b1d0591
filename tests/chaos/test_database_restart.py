"""PostgreSQL crashes and restarts while three senders stream HL7: each message is
acknowledged with AA exactly once, only after it is durable, and the ledger holds each
message once. The senders resend whatever got AR, no answer, or a dropped connection."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from integrations.models import Message
from tests.integrations.hl7_samples import adt

from .conftest import Sender

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

SENDERS, EACH = 3, 60


def test_database_crash_mid_stream_loses_nothing_and_stores_nothing_twice(processes, pms, cluster):
    _, port = processes.listener()
    streams = [
        [adt(f"DB{s}-{i:03d}", mrn=f"DB{s}-{i}", last=f"Crash{s}x{i}") for i in range(EACH)]
        for s in range(SENDERS)
    ]
    senders = [Sender(port, timeout=3) for _ in streams]
    threads = [
        threading.Thread(target=sender.send_until_acked, args=(messages,))
        for sender, messages in zip(senders, streams, strict=True)
    ]
    for thread in threads:
        thread.start()
    while sum(sum(s.acks.values()) for s in senders) < SENDERS * EACH // 3:
        time.sleep(0.05)
    cluster.crash()
    time.sleep(1)
    cluster.start()
    for thread in threads:
        thread.join(90)
    connection.close()  # the test's own connection died with the server

    assert sum(s.refused for s in senders) > 0, "the crash happened mid-stream"
    for sender, messages in zip(senders, streams, strict=True):
        assert sender.acks == {m.split("|")[9]: 1 for m in messages}, "one AA per message"
    ledger = Counter(Message.objects.filter(direction="in").values_list("control_id", flat=True))
    assert len(ledger) == SENDERS * EACH and set(ledger.values()) == {1}
