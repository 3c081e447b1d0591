"""Every HL7 v2 message the hub emits passes hl7apy STRICT validation for its version.

hl7apy's STRICT mode silently drops segments it does not know, so each check also
compares the number of segments hl7apy kept with the number we wrote.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import transaction
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message as HL7Message
from hl7apy.parser import parse_message, parse_segments

from integrations.hl7v2.ack import AA, AE, AR, build_ack
from integrations.hl7v2.reader import SUPPORTED_VERSIONS, read_header, split_segments
from integrations.models import Connector, OutboxEvent
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
from integrations.relay import build_wire
from integrations.sandbox.system import SandboxPMS
from patients.models import PatientIdentifier
from scheduling.models import AppointmentSeries
from tests import factories as f

pytestmark = pytest.mark.django_db

# hl7apy cannot derive the structure from MSH-9 in v2.3 (no MSH-9.3), so name it.
STRUCTURE = {"ACK": "ACK", "SIU": "SIU_S12", "ADT": "ADT_A01", "DFT": "DFT_P03"}


def _count(element) -> int:
    total = 0
    for child in element.children:
        total += 1 if child.classname == "Segment" else _count(child)
    return total


# hl7apy has no 2.7.1 tables; 2.7.1 changed no segment of an ACK, so it is checked as 2.7.
VALIDATE_AS = {"2.7.1": "2.7"}


def strict(raw: str) -> None:
    header = read_header(raw)
    if header.version in VALIDATE_AS:
        raw = raw.replace(f"|{header.version}\r", f"|{VALIDATE_AS[header.version]}\r", 1)
        header = read_header(raw)
    if header.version == "2.3":
        message = HL7Message(
            STRUCTURE[header.message_code], version="2.3", validation_level=VALIDATION_LEVEL.STRICT
        )
        message.children = parse_segments(
            raw, "2.3", message.encoding_chars, VALIDATION_LEVEL.STRICT, message.reference, True
        )
    else:
        message = parse_message(raw, validation_level=VALIDATION_LEVEL.STRICT)
    message.validate()  # raises on a missing required field, segment or bad cardinality
    assert _count(message) == len(split_segments(raw)), "hl7apy dropped a segment"


@pytest.mark.parametrize("version", sorted(SUPPORTED_VERSIONS))
@pytest.mark.parametrize("code", [AA, AE, AR])
def test_every_ack_shape_is_valid_for_the_senders_version(version, code):
    inbound = f"MSH|^~\\&|PMS|DEN|CAREHUB|HUB|20261122||ADT^A04^ADT_A01|C1|P|{version}\rEVN|A04\r"
    error = "" if code == AA else "unsupported message type ORU^R01 | with delimiters & more " * 3
    strict(build_ack(read_header(inbound), code, error=error, error_code="200", field=9))


def test_an_ack_to_an_unreadable_message_is_valid():
    strict(build_ack(None, AE, error="message does not start with an MSH segment"))


@pytest.fixture
def connector(db) -> Connector:
    return Connector.objects.create(
        name="PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=f.location(),
        endpoint="127.0.0.1:1",
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
def test_every_siu_we_send_is_valid(connector, event_type):
    from django.utils import timezone

    patient = f.patient(first_name="O'Brien", middle_name="Ana^Maria", email="a@example.org")
    PatientIdentifier.objects.create(patient=patient, system="DEN-PMS", value="M-77")
    provider = f.provider(locations=[connector.location])
    slot = f.slot(
        provider=provider, location=connector.location, start=timezone.now() + timedelta(days=1)
    )
    appt = f.appointment(patient=patient, slot=slot, appointment_type=f.appointment_type())
    # A series occurrence, so SCH-4 (placer group number) is checked too.
    appt.series = AppointmentSeries.objects.create(
        patient=patient,
        appointment_type=appt.appointment_type,
        location=connector.location,
        rrule="FREQ=WEEKLY;INTERVAL=4;COUNT=2",
        first_start=appt.start,
        created_at=appt.start,
    )
    appt.save(update_fields=["series"])
    with transaction.atomic():
        event = outbox_enqueue(
            event_type=event_type,
            aggregate_type="appointment",
            aggregate_id=appt.pk,
            location_id=connector.location_id,
            payload={"previous_id": 1} if event_type == APPOINTMENT_RESCHEDULED else {},
        )
    wire = build_wire(event, connector, "H1")
    strict(wire.raw)
    assert "M-77^^^DEN-PMS^MR" in wire.raw
    assert f"|{appt.series_id}^CAREHUB|" in wire.raw


@pytest.mark.parametrize("event_type", [PATIENT_CREATED, PATIENT_UPDATED])
def test_every_adt_we_send_is_valid(connector, event_type):
    patient = f.patient(address_line="1 Main St", city="Denver", state="CO")
    event = OutboxEvent(
        event_type=event_type, aggregate_type="patient", aggregate_id=patient.pk, payload={}
    )
    strict(build_wire(event, connector, "H2").raw)


def test_what_the_sandbox_pms_sends_is_valid_v24(connector):
    from django.utils import timezone

    connector.kind = Connector.Kind.SANDBOX
    connector.save()
    provider = f.provider(locations=[connector.location])
    f.appointment_type(
        code="exam", typical_procedure_codes=["D0150"], typical_diagnosis_codes=["Z01.20"]
    )
    f.slot(provider=provider, location=connector.location, start=timezone.now() + timedelta(days=1))
    pms = SandboxPMS(connector)
    rng = random.Random(3)
    messages = []
    while not any("ADT^A04" in m for m in messages):
        messages += pms.front_desk_booking(
            rng=rng, now=timezone.now() - timedelta(days=rng.randint(0, 3))
        )
        f.slot(
            provider=provider,
            location=connector.location,
            start=timezone.now() + timedelta(days=2, minutes=30 * len(messages)),
        )
    messages += pms.document_due(rng=random.Random(1), now=timezone.now() + timedelta(days=30))
    kinds = {read_header(m).message_type for m in messages}
    assert {"ADT^A04", "SIU^S12", "DFT^P03"} <= kinds
    for raw in messages:
        strict(raw)
