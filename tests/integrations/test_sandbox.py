"""The sandbox location PMS/EHR, end to end through the relay and the inbound path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import inbound
from integrations.models import Connector, Message, OutboxEvent, SandboxAppointment
from integrations.relay import outbox_relay
from integrations.sandbox.feed import sandbox_tick
from integrations.sandbox.system import SandboxPMS
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
    inbound.inbound_drain_keys(inbound.inbound_due_keys())


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
    from integrations.sandbox.feed import sandbox_send

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


def _no_shows(sandbox, now):
    import random

    messages = SandboxPMS(sandbox).document_due(rng=random.Random(1), now=now)
    return [m for m in messages if "SIU^S26" in m]


def test_the_sandbox_reports_a_no_show_only_after_the_visit_ended_where_it_is(sandbox, monkeypatch):
    from integrations.sandbox import system

    monkeypatch.setattr(system, "NO_SHOW_RATE", 1.0)  # every visit is a no-show
    sandbox.location.time_zone = "Pacific/Auckland"  # far from UTC: wall times differ a lot
    sandbox.location.save()
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    appt = booked_appointment(location=sandbox.location, start=start)
    outbox_relay()
    assert appt.start < timezone.now() < appt.end, "the visit is under way"

    assert _no_shows(sandbox, timezone.now()) == [], "not while the visit is going on"
    assert _no_shows(sandbox, appt.start - timedelta(hours=1)) == [], "not before it starts"
    assert SandboxAppointment.objects.get().status == "booked"

    from integrations.sandbox.feed import sandbox_send

    sent = _no_shows(sandbox, appt.end + timedelta(minutes=1))
    assert len(sent) == 1
    Appointment.objects.filter(pk=appt.pk).update(
        start=appt.start - timedelta(hours=1), end=appt.end - timedelta(hours=1)
    )  # the hub checks its own clock; let its visit be over too
    sandbox_send(sandbox, sent)
    _apply_inbound()
    row = Message.objects.get(direction="in")
    assert (row.message_type, row.status) == ("SIU^S26", "processed"), row.last_error
    assert Appointment.objects.get(pk=appt.pk).status == "no_show"


def test_a_hub_reschedule_moves_the_sandbox_visit_so_the_old_time_is_never_a_no_show(
    sandbox, monkeypatch
):
    from django.db import transaction

    from integrations.outbox import APPOINTMENT_RESCHEDULED, outbox_enqueue
    from integrations.sandbox import system

    monkeypatch.setattr(system, "NO_SHOW_RATE", 1.0)
    old = booked_appointment(
        location=sandbox.location, start=timezone.now().replace(microsecond=0) - timedelta(hours=3)
    )
    outbox_relay()
    # The hub moves it to the day after tomorrow: a new appointment replaces the old one.
    slot = f.slot(
        provider=old.provider,
        location=sandbox.location,
        start=timezone.now().replace(microsecond=0) + timedelta(days=2),
    )
    with transaction.atomic():
        Appointment.objects.filter(pk=old.pk).update(
            status="rescheduled", cancel_reason="patient_request"
        )
        new = f.appointment(patient=old.patient, slot=slot, appointment_type=old.appointment_type)
        outbox_enqueue(
            event_type=APPOINTMENT_RESCHEDULED,
            aggregate_type="appointment",
            aggregate_id=new.pk,
            location_id=sandbox.location_id,
            payload={"previous_id": old.pk},
        )
    outbox_relay()

    book = SandboxAppointment.objects.get(connector=sandbox)
    assert (book.hub_appointment_id, book.start) == (new.pk, new.start), "moved, not copied"
    assert _no_shows(sandbox, timezone.now()) == [], "the old time passed, but it is not a visit"


def test_a_hub_cancellation_of_a_front_desk_booking_reaches_the_sandbox_visit(sandbox, monkeypatch):
    from django.db import transaction

    from integrations.outbox import APPOINTMENT_CANCELLED, outbox_enqueue
    from integrations.sandbox import system

    monkeypatch.setattr(system, "NO_SHOW_RATE", 1.0)
    provider = f.provider(locations=[sandbox.location])
    f.appointment_type(code="exam", duration_minutes=30)
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=1)
    f.slot(provider=provider, location=sandbox.location, start=start)
    sandbox_tick(seed=1, booking_chance=1.0)
    _apply_inbound()
    appt = Appointment.objects.get()
    # A call-center agent cancels it at the hub; the relay tells the PMS (SIU^S15).
    with transaction.atomic():
        Appointment.objects.filter(pk=appt.pk).update(
            status="cancelled", cancel_reason="patient_request"
        )
        outbox_enqueue(
            event_type=APPOINTMENT_CANCELLED,
            aggregate_type="appointment",
            aggregate_id=appt.pk,
            location_id=sandbox.location_id,
        )
    outbox_relay()

    assert Message.objects.get(direction="out").ack_code == "AA"
    visit = SandboxAppointment.objects.get(connector=sandbox)
    assert (visit.status, visit.hub_appointment_id) == ("cancelled", appt.pk), "one visit, linked"
    assert _no_shows(sandbox, appt.end + timedelta(hours=1)) == []
