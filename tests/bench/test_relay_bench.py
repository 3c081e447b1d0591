"""Benchmark: the outbox relay delivering SIU^S12 over MLLP, with and without the
hl7apy v2.5.1 check every outbound HL7 message passes before it is sent.

The peer is python-hl7's asyncio MLLP server answering AA, in a thread of this process.
Each appointment belongs to its own patient, so no queue waits behind another. Run with
`make bench`; figures go to the README under "Integration engine".
"""

from __future__ import annotations

import os
import time

import pytest

from integrations import relay
from integrations.hl7v2.validation import outbound_validate
from integrations.models import Connector, Message
from tests import factories as f
from tests.integrations.conftest import booked_appointment
from tests.integrations.conftest import mllp_server as mllp_server  # the fixture

pytestmark = pytest.mark.django_db(transaction=True)

N = 200


@pytest.fixture(autouse=True)
def quiet_relay(settings):
    settings.INTEGRATIONS_KICK_RELAY = False


@pytest.mark.parametrize("checked", [False, True], ids=["unchecked", "hl7apy-checked"])
def test_relay_delivery_rate(mllp_server, monkeypatch, checked):
    if not checked:
        monkeypatch.setattr(relay, "_hl7_check", lambda raw: None)
    server = mllp_server([])
    location = f.location()
    Connector.objects.create(
        name="PMS bench",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=location,
        endpoint=f"127.0.0.1:{server.port}",
        sending_application="DENPMS",
        sending_facility="DEN",
    )
    for _ in range(N):
        booked_appointment(location=location)
    relay.outbox_fan_out(limit=N)

    started = time.perf_counter()
    sent = relay.outbound_deliver_due(limit=N)
    elapsed = time.perf_counter() - started

    assert sent == N
    assert Message.objects.filter(direction="out", status="sent").count() == N
    label = "hl7apy-checked" if checked else "unchecked"
    rate, each = N / elapsed, elapsed / N * 1000
    print(f"\nrelay SIU^S12 over MLLP, {label}: {rate:.0f} msg/s ({each:.1f} ms each)")
    raws = list(Message.objects.filter(direction="out").values_list("raw", flat=True))
    started = time.perf_counter()
    for raw in raws:
        outbound_validate(raw)
    check = (time.perf_counter() - started) / len(raws) * 1000
    print(f"hl7apy check alone: {check:.1f} ms per message ({os.getloadavg()[0]:.1f} load)")
