"""The outbox relay against a live MLLP endpoint (python-hl7's asyncio server)."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations.models import Connector, Message, OutboxEvent
from integrations.outbox import APPOINTMENT_CANCELLED, outbox_enqueue
from integrations.relay import outbox_relay
from tests import factories as f

from .conftest import booked_appointment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.INTEGRATIONS_RETRY_BASE_SECONDS = 0
    settings.INTEGRATIONS_SEND_TIMEOUT = 0.5
    settings.INTEGRATIONS_KICK_RELAY = False


def _pms(location, port, **kw) -> Connector:
    return Connector.objects.create(
        name=f"PMS {port}",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=location,
        endpoint=f"127.0.0.1:{port}",
        sending_application="DENPMS",
        sending_facility="DEN",
        **kw,
    )


def _relay_until_quiet(rounds: int = 10) -> None:
    for _ in range(rounds):
        outbox_relay()


def test_nack_then_timeout_then_accept_delivers_once_in_order_per_patient(mllp_server):
    server = mllp_server(["AR", "timeout", "AA"])
    location = f.location()
    _pms(location, server.port)
    patient = f.patient()
    first = booked_appointment(location=location, patient=patient)
    with transaction.atomic():
        outbox_enqueue(
            event_type=APPOINTMENT_CANCELLED,
            aggregate_type="appointment",
            aggregate_id=first.pk,
            location_id=location.pk,
        )

    _relay_until_quiet()

    booked, cancelled = Message.objects.filter(direction="out").order_by("id")
    answers = [(cid, answer) for cid, _, answer in server.received]
    assert answers == [
        (booked.control_id, "AR"),
        (booked.control_id, "timeout"),
        (booked.control_id, "AA"),
        (cancelled.control_id, "AA"),
    ], "the cancel waited until the booking it follows was delivered"
    assert [m[1] for m in server.received][-1] == "SIU^S15^SIU_S12"
    assert (booked.status, booked.attempts, booked.ack_code) == ("sent", 3, "AA")
    assert (cancelled.status, cancelled.attempts) == ("sent", 1)
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"delivered"}


def test_an_application_error_is_permanent_and_does_not_block_the_next(mllp_server):
    server = mllp_server(["AE"])
    location = f.location()
    _pms(location, server.port)
    patient = f.patient()
    bad = booked_appointment(location=location, patient=patient)
    good = booked_appointment(location=location, patient=patient)

    _relay_until_quiet()

    rows = {m.outbox_event.aggregate_id: m for m in Message.objects.filter(direction="out")}
    assert rows[bad.pk].status == "dead" and rows[bad.pk].attempts == 1
    assert "rejected" in rows[bad.pk].last_error
    assert rows[good.pk].status == "sent"
    assert len(server.received) == 2
    assert OutboxEvent.objects.get(aggregate_id=bad.pk).status == "dead"


def test_after_max_attempts_a_message_is_dead_lettered(mllp_server, settings):
    settings.INTEGRATIONS_MAX_ATTEMPTS = 3
    server = mllp_server(["AR"] * 10)
    location = f.location()
    _pms(location, server.port)
    booked_appointment(location=location)

    _relay_until_quiet()

    row = Message.objects.get(direction="out")
    assert (row.status, row.attempts) == ("dead", 3)
    assert len(server.received) == 3


def test_a_change_that_came_from_a_connector_is_not_echoed_back(mllp_server):
    server = mllp_server([])
    location = f.location()
    origin = _pms(location, server.port)
    other = mllp_server([])
    _pms(location, other.port, direction="both")
    appt = booked_appointment(location=location)
    with transaction.atomic():
        outbox_enqueue(
            event_type=APPOINTMENT_CANCELLED,
            aggregate_type="appointment",
            aggregate_id=appt.pk,
            location_id=location.pk,
            payload={"origin_connector_id": origin.pk},
        )

    _relay_until_quiet()

    assert [r[1] for r in server.received] == ["SIU^S12^SIU_S12"]
    assert [r[1] for r in other.received] == ["SIU^S12^SIU_S12", "SIU^S15^SIU_S12"]


def test_an_unreachable_endpoint_is_retried_not_lost():
    location = f.location()
    _pms(location, 9)  # discard port: nothing listens
    booked_appointment(location=location)

    outbox_relay()

    row = Message.objects.get(direction="out")
    assert row.status == "failed" and row.attempts == 1
    assert "connection failed" in row.last_error
