"""Every outbound SIU/ADT passes hl7apy's v2.5.1 check before it leaves; one that does not
is dead-lettered at once with the reason and never reaches the peer."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations.hl7v2 import outbound as hl7out
from integrations.hl7v2.validation import ERR_INVALID, OutboundInvalid, outbound_validate
from integrations.models import Connector, Message, OutboxEvent
from integrations.outbox import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_MODIFIED,
    APPOINTMENT_NO_SHOW,
    APPOINTMENT_RESCHEDULED,
    PATIENT_CREATED,
    PATIENT_UPDATED,
    outbox_enqueue,
)
from integrations.relay import build_wire, outbox_relay
from tests import factories as f

from .conftest import booked_appointment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_kicks(settings):
    settings.INTEGRATIONS_KICK_RELAY = False
    settings.INTEGRATIONS_SEND_TIMEOUT = 2


def _pms(location, endpoint: str = "127.0.0.1:1") -> Connector:
    return Connector.objects.create(
        name=f"PMS {endpoint}",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=location,
        endpoint=endpoint,
        sending_application="DENPMS",
        sending_facility="DEN",
        identifier_system="DEN-PMS",
    )


@pytest.mark.parametrize(
    "event_type",
    [
        APPOINTMENT_BOOKED,
        APPOINTMENT_RESCHEDULED,
        APPOINTMENT_MODIFIED,
        APPOINTMENT_CANCELLED,
        APPOINTMENT_NO_SHOW,
    ],
)
def test_every_siu_kind_we_build_validates(event_type):
    connector = _pms(f.location())
    appt = booked_appointment(location=connector.location)
    with transaction.atomic():
        event = outbox_enqueue(
            event_type=event_type,
            aggregate_type="appointment",
            aggregate_id=appt.pk,
            location_id=connector.location_id,
            payload={"previous_id": 1} if event_type == APPOINTMENT_RESCHEDULED else {},
        )
    outbound_validate(build_wire(event, connector, "H1").raw)


@pytest.mark.parametrize("event_type", [PATIENT_CREATED, PATIENT_UPDATED])
def test_every_adt_kind_we_build_validates(event_type):
    connector = _pms(f.location())
    patient = f.patient(address_line="1 Main St", city="Denver", state="CO")
    event = OutboxEvent(
        event_type=event_type, aggregate_type="patient", aggregate_id=patient.pk, payload={}
    )
    outbound_validate(build_wire(event, connector, "H2").raw)


def test_the_check_sees_a_value_too_long_for_its_field():
    patient = hl7out.PatientWire(
        1, (), "Doe" * 100, "Ann", "", "19800101", "F", "", "", "", "", "", "", ""
    )
    raw = hl7out.build_adt(patient, event_type=PATIENT_CREATED, control_id="H3")
    with pytest.raises(OutboundInvalid, match="MaxLengthReached") as caught:
        outbound_validate(raw)
    # The ledger's error column is shown in admin: the reason never quotes the name.
    assert "Doe" not in str(caught.value)


def test_a_malformed_date_is_reported_without_the_value():
    patient = hl7out.PatientWire(
        1, (), "Doe", "Ann", "", "19801399", "F", "", "", "", "", "", "", ""
    )
    raw = hl7out.build_adt(patient, event_type=PATIENT_CREATED, control_id="H4")
    with pytest.raises(OutboundInvalid) as caught:
        outbound_validate(raw)
    assert "19801399" not in str(caught.value)


def _without(segment: str, builder):
    def broken(*args, **kwargs):
        raw = builder(*args, **kwargs)
        return "".join(s + "\r" for s in raw.split("\r") if s and not s.startswith(segment))

    return broken


@pytest.mark.parametrize(
    ("builder", "segment", "reason"),
    [
        ("build_siu", "SCH", "Missing required child SIU_S12.SCH"),
        ("build_siu", "PID", "Missing required child SIU_S12_PATIENT.PID"),
    ],
)
def test_a_broken_siu_is_dead_lettered_with_the_reason_and_never_sent(
    mllp_server, monkeypatch, builder, segment, reason
):
    server = mllp_server([])
    location = f.location()
    _pms(location, f"127.0.0.1:{server.port}")
    booked_appointment(location=location)
    monkeypatch.setattr(hl7out, builder, _without(segment, getattr(hl7out, builder)))

    outbox_relay()

    row = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert row.status == Message.Status.DEAD
    assert row.attempts == 1, "a permanent error is not retried"
    assert row.last_error.startswith(ERR_INVALID)
    assert reason in row.last_error
    assert f"\r{segment}|" not in row.raw, "the row keeps what was built, for the replay"
    assert server.received == []
    assert OutboxEvent.objects.get().status == OutboxEvent.Status.DEAD


def test_a_broken_adt_is_dead_lettered_and_never_sent(mllp_server, monkeypatch):
    server = mllp_server([])
    location = f.location()
    _pms(location, f"127.0.0.1:{server.port}")
    patient = f.patient()
    with transaction.atomic():
        outbox_enqueue(
            event_type=PATIENT_UPDATED,
            aggregate_type="patient",
            aggregate_id=patient.pk,
            location_id=location.pk,
        )
    monkeypatch.setattr(hl7out, "build_adt", _without("PID", hl7out.build_adt))

    outbox_relay()

    row = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert (row.status, row.attempts) == (Message.Status.DEAD, 1)
    assert "Missing required child ADT_A01.PID" in row.last_error
    assert server.received == []


def test_a_valid_message_still_reaches_the_peer(mllp_server):
    server = mllp_server([])
    location = f.location()
    _pms(location, f"127.0.0.1:{server.port}")
    booked_appointment(location=location)

    outbox_relay()

    row = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert (row.status, row.last_error) == (Message.Status.SENT, "")
    assert [msg_type for _, msg_type, _ in server.received] == ["SIU^S12^SIU_S12"]
