"""Referrals: a FHIR ServiceRequest or a referral letter waits on the agents' worklist, the
booking answers it whatever channel made it, and the KPI page measures the wait."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from integrations import inbound
from integrations.fhir.client import fhir_poll
from integrations.models import Connector, Message
from patients.mpi import patient_merge
from scheduling import services
from scheduling.kpi.filters import KpiFilters
from scheduling.kpi.referrals import referral_metrics
from scheduling.models import Appointment, Referral
from tests import factories as f
from tests.integrations.test_fhir_client import FakeEhr

from .helpers import HX, bookable

pytestmark = pytest.mark.django_db


@pytest.fixture
def ehr():
    server = FakeEhr()
    yield server
    server.server.shutdown()


def _request(rid: str, code: str, *, status: str = "active", authored: str) -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "meta": {"versionId": status, "lastUpdated": authored},
        "status": status,
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": "http://example.org/visit-types", "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "requester": {
            "display": "Dr. Amara Velez",
            "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"},
        },
        "reasonCode": [{"text": "Evaluate tooth 30 for root canal"}],
        "authoredOn": authored,
    }


def _book(patient, slot, atype, agent) -> Appointment:
    hold = services.hold_place(slot=slot, appointment_type=atype, by=agent, patient=patient)
    return services.appointment_book(
        hold=hold, patient=patient, appointment_type=atype, by=agent, reason="new_problem"
    )


def test_a_fhir_referral_waits_on_the_worklist_and_the_booking_answers_it(
    ehr, console, agent, settings
):
    settings.INTEGRATIONS_KICK_RELAY = False
    loc, _, slot = bookable()
    atype = f.appointment_type(code="endo-consult")
    connector = Connector.objects.create(
        name="Aurora EHR",
        kind=Connector.Kind.FHIR_R4,
        role=Connector.Role.LOCATION_EHR,
        location=loc,
        endpoint=ehr.base,
        identifier_system="AUR-EHR",
    )
    received = timezone.now() - timedelta(days=3)
    stamp = received.isoformat().replace("+00:00", "Z")
    meta = {"versionId": "1", "lastUpdated": stamp}
    ehr.put(
        {
            "resourceType": "Patient",
            "id": "p1",
            "meta": meta,
            "name": [{"family": "Quispe", "given": ["Rosa"]}],
            "birthDate": "1975-06-01",
        }
    )
    ehr.put(_request("sr-1", "endo-consult", authored=stamp))
    ehr.put(_request("sr-2", "endo-consult", authored=stamp, status="revoked"))

    fhir_poll(connector)
    inbound.inbound_drain_keys(inbound.inbound_due_keys())

    assert all(m.status == "processed" for m in Message.objects.filter(direction="in"))
    waiting = Referral.objects.get(status="open")
    assert (
        Referral.objects.get(status="closed").closed_reason == "revoked by the referring clinician"
    )
    assert (waiting.priority, waiting.referring_provider, waiting.referring_npi) == (
        "urgent",
        "Dr. Amara Velez",
        "1234567893",
    )
    worklist = console.get("/console/worklist/", headers=HX).content.decode()
    assert f"Book {atype} for Quispe" in worklist or f"Book {atype} for Rosa" in worklist

    opened = console.post("/console/referrals/open/", {"referral_id": waiting.pk}, headers=HX)
    assert opened.status_code == 200
    assert "Evaluate tooth 30" in opened.content.decode()
    assert console.session["console"]["finder"]["appointment_type"] == atype.pk

    appt = _book(waiting.patient, slot, atype, agent)

    waiting.refresh_from_db()
    assert waiting.status == "booked" and waiting.appointment == appt
    metrics = {
        m.key: m
        for m in referral_metrics(
            KpiFilters(date_from=date.today() - timedelta(days=7), date_to=date.today())
        )
    }
    expected = round((appt.start - waiting.received_at).total_seconds() / 86400, 1)
    assert metrics["referral_to_appointment"].value == expected
    assert metrics["referrals"].value == 2 and metrics["referral_booked"].value == 50.0


def test_a_referral_letter_is_recorded_from_the_console_and_checked(console):
    p = f.patient()
    atype = f.appointment_type()
    console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)

    bad = console.post(
        "/console/referrals/add/",
        {
            "rf-appointment_type": atype.pk,
            "rf-referring_provider": "Dr. Lee",
            "rf-referring_npi": "12345",
            "rf-priority": "routine",
        },
        headers=HX,
    )
    assert bad.status_code == 400 and "An NPI is ten digits." in bad.content.decode()
    assert not Referral.objects.exists()

    ok = console.post(
        "/console/referrals/add/",
        {
            "rf-appointment_type": atype.pk,
            "rf-referring_provider": "Dr. Lee",
            "rf-priority": "asap",
            "rf-reason": "Second opinion",
        },
        headers=HX,
    )
    assert ok.status_code == 200 and "Referral recorded." in ok.content.decode()
    referral = Referral.objects.get()
    assert (referral.source, referral.priority, referral.patient) == ("form", "asap", p)
    assert "Second opinion" in ok.content.decode()


def test_a_cancelled_answer_puts_the_referral_back_and_a_merge_carries_it(agent):
    _, _, slot = bookable()
    atype = f.appointment_type()
    patient, duplicate = f.patient(), f.patient()
    referral = services.referral_create(
        by=agent,
        patient=patient,
        appointment_type=atype,
        referring_provider="Dr. Okoro",
        reason="",
    )
    appt = _book(patient, slot, atype, agent)
    referral.refresh_from_db()
    assert referral.status == "booked"

    services.appointment_cancel(appointment=appt, by=agent, reason="patient_request")

    referral.refresh_from_db()
    assert (referral.status, referral.appointment, referral.booked_at) == ("open", None, None)
    patient_merge(survivor=duplicate, merged=patient)
    referral.refresh_from_db()
    assert referral.patient == duplicate


def test_two_bookings_answer_two_referrals_oldest_first(agent):
    atype = f.appointment_type()
    patient = f.patient()
    first, second = (
        services.referral_create(
            by=agent, patient=patient, appointment_type=atype, referring_provider=name, reason=""
        )
        for name in ("Dr. A", "Dr. B")
    )
    Referral.objects.filter(pk=first.pk).update(received_at=datetime(2026, 1, 1, tzinfo=UTC))
    loc, prov, first_slot = bookable()
    # A day apart: one patient cannot be in two places at once.
    slots = [
        first_slot,
        f.slot(provider=prov, location=loc, start=first_slot.start + timedelta(days=1)),
    ]

    appts = [_book(patient, s, atype, agent) for s in slots]

    linked = dict(Referral.objects.values_list("pk", "appointment_id"))
    assert linked == {first.pk: appts[0].pk, second.pk: appts[1].pk}, "oldest answered first"
