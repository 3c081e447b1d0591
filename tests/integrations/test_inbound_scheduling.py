"""Inbound SIU and DFT from a location PMS/EHR, through the same ledger path the listener uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations import inbound
from integrations.ledger import inbound_store_batch
from integrations.models import Message, OutboxEvent
from scheduling.models import Appointment
from tests import factories as f

from .hl7_samples import siu

pytestmark = pytest.mark.django_db


def _receive(*raws: str) -> list[Message]:
    stored = inbound_store_batch(list(raws))
    assert [s.ack_code for s in stored] == ["AA"] * len(raws), [s.ack for s in stored]
    inbound.inbound_drain_keys(list(dict.fromkeys(s.ordering_key for s in stored)))
    return list(Message.objects.filter(direction="in").order_by("id"))


@pytest.fixture
def book(pms):
    """A provider with free 30-minute units at the PMS's location on 1 Dec 2026, 10:00 Denver."""
    provider = f.provider(locations=[pms.location])
    atype = f.appointment_type(code="exam")
    for minute in (0, 30, 60):
        start = datetime(2026, 12, 1, 17, 0, tzinfo=UTC) + timedelta(minutes=minute)
        f.slot(provider=provider, location=pms.location, start=start)
    return provider, atype


def test_a_front_desk_booking_lands_in_the_hub_without_echoing_back(pms, book):
    provider, _ = book

    (row,) = _receive(siu("S1", npi=provider.npi, type_code="exam"))

    assert row.status == "processed", row.last_error
    appt = Appointment.objects.get()
    assert appt.channel == "location" and appt.external_id == "PMS-7001"
    assert appt.start == datetime(2026, 12, 1, 17, 0, tzinfo=UTC), "10:00 Denver wall time"
    assert appt.provider == provider and appt.appointment_type.code == "exam"
    event = OutboxEvent.objects.get(event_type="appointment.booked")
    assert event.payload["origin_connector_id"] == pms.pk


def test_reschedule_cancel_and_a_double_booking_conflict(pms, book):
    provider, _ = book
    _receive(siu("S1", npi=provider.npi, type_code="exam"))
    rows = _receive(
        siu("S2", event="S13", start="202612011030", end="202612011100", npi=provider.npi),
        siu(
            "S3",
            event="S12",
            external_id="PMS-7002",
            start="202612011030",
            end="202612011100",
            npi=provider.npi,
            type_code="exam",
        ),
        siu("S4", event="S15"),
    )

    moved, conflict, cancelled = rows[1:]
    assert moved.status == "processed"
    assert conflict.status == "rejected" and "SlotUnavailable" in conflict.last_error
    assert cancelled.status == "processed"
    appt = Appointment.objects.get(external_id="PMS-7001")
    assert appt.status == "cancelled"
    assert appt.start == datetime(2026, 12, 1, 17, 30, tzinfo=UTC)


def test_a_cancel_for_an_unknown_appointment_is_rejected_with_the_reason(pms):
    (row,) = _receive(siu("S9", event="S15", external_id="NOPE"))
    assert row.status == "rejected"
    assert "unknown to the hub" in row.last_error


def test_a_dft_documents_the_visit_and_billing_gets_codes_once(pms):
    from billing.models import Encounter
    from tests.billing import builders as b

    from .hl7_samples import dft

    visit = b.visit()
    pms.location = visit.location
    pms.save()
    message = dft(
        "D1", appointment_id=visit.appointment.pk, cpt=("D0150", "D2391"), icd=("K02.52",)
    )

    rows = _receive(message, message.replace("|D1|", "|D2|"))

    assert [r.status for r in rows] == ["processed", "processed"], [r.last_error for r in rows]
    encounter = Encounter.objects.get(appointment=visit.appointment)
    assert sorted(encounter.charges.values_list("procedure_code", flat=True)) == ["D0150", "D2391"]
    assert list(encounter.diagnoses.values_list("code", flat=True)) == ["K0252"]
    assert encounter.claims.count() == 1, "the same documentation twice made one claim"
