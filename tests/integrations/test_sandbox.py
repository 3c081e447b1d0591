"""The sandbox location PMS/EHR, end to end through the relay and the inbound path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import inbound
from integrations.models import Connector, Message, OutboxEvent, SandboxAppointment
from integrations.relay import outbox_relay
from integrations.sandbox.system import SandboxPMS, sandbox_tick
from scheduling.models import Appointment
from tests import factories as f

from .conftest import booked_appointment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet(settings):
    settings.INTEGRATIONS_KICK_RELAY = False


@pytest.fixture
def sandbox(db) -> Connector:
    location = f.location(code="den1", equipment=[])
    return Connector.objects.create(
        name="Denver sandbox PMS",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.LOCATION_PMS,
        location=location,
        sending_application="DEN1PMS",
        sending_facility="DEN1",
        identifier_system="DEN1-PMS",
    )


def _apply_inbound() -> None:
    for key in inbound.inbound_due_keys():
        inbound.inbound_drain_key(key)


def test_a_hub_booking_reaches_the_sandbox_book_and_is_acknowledged(sandbox):
    appt = booked_appointment(location=sandbox.location)

    outbox_relay()

    out = Message.objects.get(direction="out")
    assert (out.status, out.ack_code, out.message_type) == ("sent", "AA", "SIU^S12")
    book = SandboxAppointment.objects.get(connector=sandbox)
    assert book.hub_appointment_id == appt.pk and book.start == appt.start


def test_a_front_desk_booking_appears_in_the_hub_and_is_not_echoed(sandbox):
    provider = f.provider(locations=[sandbox.location])
    f.appointment_type(code="exam", duration_minutes=30)
    f.slot(provider=provider, location=sandbox.location, start=timezone.now() + timedelta(days=1))

    sandbox_tick(seed=1, booking_chance=1.0)
    _apply_inbound()

    assert set(Message.objects.filter(direction="in").values_list("status", flat=True)) == {
        "processed"
    }
    appt = Appointment.objects.get()
    assert appt.channel == "location" and appt.external_id.startswith("SBX")
    outbox_relay()
    assert OutboxEvent.objects.get(event_type="appointment.booked").status == "skipped", (
        "the only connector at the location is the one the booking came from"
    )


def test_after_the_visit_the_sandbox_documents_it_with_codes(sandbox):
    from billing.models import Encounter

    appt = booked_appointment(location=sandbox.location)
    appt.appointment_type.typical_procedure_codes = ["D0150", "D0210"]
    appt.appointment_type.typical_diagnosis_codes = ["Z01.20"]
    appt.appointment_type.save()
    outbox_relay()

    messages = SandboxPMS(sandbox).document_due(
        rng=__import__("random").Random(5), now=appt.end + timedelta(hours=1)
    )
    from integrations.sandbox.system import sandbox_send

    sandbox_send(sandbox, messages)
    _apply_inbound()

    row = Message.objects.get(direction="in")
    assert row.message_type == "DFT^P03" and row.status == "processed", row.last_error
    encounter = Encounter.objects.get(appointment=appt)
    assert sorted(encounter.charges.values_list("procedure_code", flat=True)) == ["D0150", "D0210"]
    assert list(encounter.diagnoses.values_list("code", flat=True)) == ["Z0120"]
    assert SandboxAppointment.objects.get().status == "documented"


def test_the_sandbox_answers_ae_to_what_it_cannot_read(sandbox):
    ack = SandboxPMS(sandbox).receive(
        "MSH|^~\\&|CAREHUB|HUB|X|Y|20260101||SIU^S12^SIU_S12|1|P|2.5.1\rSCH|\r"
    )
    assert "MSA|AE|1" in ack and "ERR" in ack


def test_a_sandbox_ehr_takes_fhir_and_answers_the_poll_with_the_documented_visit(db):
    from billing.models import Encounter
    from integrations.fhir.client import fhir_poll
    from integrations.sandbox.ehr import SandboxFhirClient, sandbox_ehr_tick

    location = f.location()
    ehr = Connector.objects.create(
        name="Sandbox EHR",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.LOCATION_EHR,
        location=location,
        identifier_system="LOC-EHR",
    )
    appt = booked_appointment(location=location)
    appt.appointment_type.typical_procedure_codes = ["D1110"]
    appt.appointment_type.typical_diagnosis_codes = ["Z01.20"]
    appt.appointment_type.save()

    outbox_relay()
    out = Message.objects.get(direction="out")
    assert (out.status, out.message_type, out.protocol) == ("sent", "FHIR Appointment", "fhir")

    assert sandbox_ehr_tick(now=appt.end + timedelta(minutes=30)) == 1
    stored = fhir_poll(ehr, client=SandboxFhirClient(ehr))
    _apply_inbound()

    assert stored["Patient"] == 1 and stored["Encounter"] == 1
    rows = Message.objects.filter(direction="in")
    assert set(rows.values_list("status", flat=True)) == {"processed"}, list(
        rows.values_list("last_error", flat=True)
    )
    encounter = Encounter.objects.get(appointment=appt)
    assert list(encounter.charges.values_list("procedure_code", flat=True)) == ["D1110"]
    assert sum(fhir_poll(ehr, client=SandboxFhirClient(ehr)).values()) == 0
