"""The FHIR R4 facade: bearer auth, OperationOutcome errors, search, and IHE $find/$hold/$book.

Every resource the server answers passes the independent R4 validator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from integrations.models import ApiToken
from scheduling.models import Appointment
from tests import factories as f
from tests.conformance.fhir_validator import assert_valid

pytestmark = pytest.mark.django_db
DAY = (datetime.now(tz=UTC) + timedelta(days=3)).replace(hour=16, minute=0, second=0, microsecond=0)
FHIR = "application/fhir+json"


def _validate(body: dict) -> None:
    """Validate a response and every resource inside it (tests/conformance/fhir_validator)."""
    assert_valid(body)


class Fhir:
    def __init__(self, user=None) -> None:
        self.client = Client()
        self.headers = {}
        if user is not None:
            _, key = ApiToken.issue(user)
            self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **params):
        response = self.client.get(f"/fhir/r4/{path}", params, headers=self.headers)
        assert response["Content-Type"] == FHIR
        body = response.json()
        _validate(body)
        return response.status_code, body

    def post(self, path: str, body: dict):
        import json

        response = self.client.post(
            f"/fhir/r4/{path}", json.dumps(body), content_type=FHIR, headers=self.headers
        )
        assert response["Content-Type"] == FHIR
        data = response.json()
        _validate(data)
        return response.status_code, data


@pytest.fixture
def world():
    loc = f.location()
    provider = f.provider(locations=[loc])
    atype = f.appointment_type(code="exam", duration_minutes=30)
    slots = [
        f.slot(provider=provider, location=loc, start=DAY + timedelta(minutes=30 * i))
        for i in range(3)
    ]
    patient = f.patient(first_name="Robin", last_name="Okafor")
    return loc, provider, atype, slots, patient


def test_anonymous_gets_401_as_an_operation_outcome():
    status, body = Fhir().get("Patient")
    assert status == 401 and body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"


def test_a_bad_token_and_a_role_without_permission_are_refused(outsider, ops_manager):
    client = Fhir()
    client.headers = {"Authorization": "Bearer nope"}
    assert client.get("metadata")[0] == 401
    status, body = Fhir(outsider).get("Patient")
    assert status == 403 and body["issue"][0]["code"] == "forbidden"
    assert Fhir(ops_manager).get("Patient")[0] == 403, "ops managers do not read PHI"


def test_metadata_is_a_capability_statement(agent):
    status, body = Fhir(agent).get("metadata")
    assert status == 200 and body["resourceType"] == "CapabilityStatement"
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert types == {"Patient", "Practitioner", "Location", "Schedule", "Slot", "Appointment"}


def test_patient_search_and_read(agent, world):
    *_, patient = world
    fhir = Fhir(agent)
    status, bundle = fhir.get("Patient", name="okaf", birthdate=patient.date_of_birth.isoformat())
    assert status == 200 and bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["name"][0]["family"] == "Okafor"
    assert fhir.get("Patient", birthdate="1901-01-01")[1]["total"] == 0
    status, read = fhir.get(f"Patient/{patient.pk}")
    assert status == 200 and read["id"] == str(patient.pk)
    status, missing = fhir.get("Patient/999999")
    assert status == 404 and missing["issue"][0]["code"] == "not-found"
    assert fhir.get("Patient", birthdate="not-a-date")[0] == 400


def test_schedule_and_slot_search(agent, world):
    loc, provider, _, slots, _ = world
    fhir = Fhir(agent)
    _, schedules = fhir.get("Schedule", actor=f"Practitioner/{provider.pk}")
    assert [e["resource"]["id"] for e in schedules["entry"]] == [f"{provider.pk}-{loc.pk}"]
    _, found = fhir.get(
        "Slot",
        schedule=f"Schedule/{provider.pk}-{loc.pk}",
        status="free",
        start=f"ge{(DAY + timedelta(minutes=30)).isoformat()}",
        **{"service-type": "exam"},
    )
    assert [e["resource"]["id"] for e in found["entry"]] == [str(s.pk) for s in slots[1:]]


def test_find_hold_book_runs_the_rules_and_the_slot_is_then_taken(agent, world):
    *_, patient = world
    fhir = Fhir(agent)

    status, proposals = fhir.post(
        "Appointment/$find",
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "patient", "valueReference": {"reference": f"Patient/{patient.pk}"}},
                {"name": "service-type", "valueCoding": {"code": "exam"}},
            ],
        },
    )
    assert status == 200, proposals
    offered = [e["resource"] for e in proposals["entry"] if e["search"]["mode"] == "match"]
    assert offered and all(a["status"] == "proposed" for a in offered)
    first = offered[0]

    status, held = fhir.post(
        "Appointment/$hold",
        {"resourceType": "Parameters", "parameter": [{"name": "appointment", "resource": first}]},
    )
    assert status == 200, held
    pending = held["entry"][0]["resource"]
    assert pending["status"] == "pending"

    status, booked = fhir.post(
        "Appointment/$book",
        {"resourceType": "Parameters", "parameter": [{"name": "appointment", "resource": pending}]},
    )
    assert status == 200, booked
    appointment = booked["entry"][0]["resource"]
    assert appointment["status"] == "booked"
    stored = Appointment.objects.get(pk=appointment["id"])
    assert stored.channel == "fhir" and stored.patient == patient

    status, again = fhir.post(
        "Appointment/$book",
        {"resourceType": "Parameters", "parameter": [{"name": "appointment", "resource": first}]},
    )
    assert status == 409 and again["resourceType"] == "OperationOutcome"

    _, listed = fhir.get("Appointment", patient=f"Patient/{patient.pk}", status="booked")
    assert [e["resource"]["id"] for e in listed["entry"]] == [appointment["id"]]


def test_appointment_create_books_the_named_slot(agent, world):
    *_, slots, patient = world
    status, created = Fhir(agent).post(
        "Appointment",
        {
            "resourceType": "Appointment",
            "status": "proposed",
            "serviceType": [{"coding": [{"code": "exam"}]}],
            "slot": [{"reference": f"Slot/{slots[2].pk}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{patient.pk}"}, "status": "accepted"}
            ],
        },
    )
    assert status == 201, created
    assert created["status"] == "booked" and created["slot"] == [
        {"reference": f"Slot/{slots[2].pk}"}
    ]


def test_a_malformed_create_says_what_is_missing(agent):
    status, body = Fhir(agent).post("Appointment", {"resourceType": "Appointment"})
    assert status == 400 and "names no Slot" in body["issue"][0]["diagnostics"]
