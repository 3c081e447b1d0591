"""The FHIR poller against a live HTTP FHIR server (a location EHR on a real socket)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations import inbound
from integrations.fhir.client import fhir_poll
from integrations.models import Connector, Message
from patients.models import PatientIdentifier
from patients.mpi.upsert import identifier_index
from scheduling.models import Appointment
from tests import factories as f

pytestmark = pytest.mark.django_db
START = (datetime.now(tz=UTC) + timedelta(days=2)).replace(
    hour=16, minute=0, second=0, microsecond=0
)


class FakeEhr:
    """Answers FHIR searches from an in-memory store, honouring _lastUpdated=ge and encounter=."""

    def __init__(self) -> None:
        self.resources: dict[str, list[dict]] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                owner.requests.append(self.path)
                url = urlsplit(self.path)
                kind = url.path.rsplit("/", 1)[-1]
                params = parse_qs(url.query)
                found = owner.resources.get(kind, [])
                if "_lastUpdated" in params:
                    floor = params["_lastUpdated"][0].removeprefix("ge")
                    found = [r for r in found if r["meta"]["lastUpdated"] >= floor]
                if "encounter" in params:
                    found = [
                        r
                        for r in found
                        if r.get("encounter", {}).get("reference") == params["encounter"][0]
                    ]
                body = json.dumps(
                    {
                        "resourceType": "Bundle",
                        "type": "searchset",
                        "entry": [{"resource": r} for r in found],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}/fhir"

    def put(self, resource: dict) -> None:
        bucket = self.resources.setdefault(resource["resourceType"], [])
        bucket[:] = [r for r in bucket if r["id"] != resource["id"]] + [resource]


@pytest.fixture
def ehr():
    server = FakeEhr()
    yield server
    server.server.shutdown()


def _meta(version: int, minutes: int = 0) -> dict:
    stamp = (
        (datetime(2026, 11, 20, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes))
        .isoformat()
        .replace("+00:00", "Z")
    )
    return {"versionId": str(version), "lastUpdated": stamp}


def _apply() -> None:
    inbound.inbound_drain_keys(inbound.inbound_due_keys())


def test_polling_brings_patients_appointments_and_documented_visits_in_once(ehr, settings):
    settings.INTEGRATIONS_KICK_RELAY = False
    from billing.models import Encounter
    from tests.billing import builders as b

    visit = b.visit()
    connector = Connector.objects.create(
        name="Denver EHR",
        kind=Connector.Kind.FHIR_R4,
        role=Connector.Role.LOCATION_EHR,
        location=visit.location,
        endpoint=ehr.base,
        identifier_system="DEN-EHR",
    )
    atype = f.appointment_type(code="exam")
    f.slot(provider=visit.provider, location=visit.location, start=START)
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "meta": _meta(1),
        "name": [{"family": "Lindqvist", "given": ["Maja"]}],
        "gender": "female",
        "birthDate": "1990-03-04",
        "telecom": [{"system": "phone", "value": "(720) 555-0100"}],
    }
    ehr.put(patient)
    ehr.put(
        {
            "resourceType": "Appointment",
            "id": "a1",
            "meta": _meta(1, 1),
            "status": "booked",
            "serviceType": [{"coding": [{"code": atype.code}]}],
            "start": START.isoformat(),
            "end": (START + timedelta(minutes=30)).isoformat(),
            "participant": [
                {"actor": {"reference": "Patient/p1"}, "status": "accepted"},
                {
                    "actor": {
                        "identifier": {
                            "system": "http://hl7.org/fhir/sid/us-npi",
                            "value": visit.provider.npi,
                        }
                    },
                    "status": "accepted",
                },
            ],
        }
    )
    # The visit the hub booked earlier, documented by the EHR.
    PatientIdentifier.objects.create(patient=visit.patient, system="DEN-EHR", value="p9")
    ehr.put(
        {
            "resourceType": "Encounter",
            "id": "e1",
            "meta": _meta(1, 2),
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/p9"},
            "appointment": [
                {
                    "identifier": {
                        "system": "urn:carehub:appointment",
                        "value": str(visit.appointment.pk),
                    }
                }
            ],
            "period": {"end": (visit.appointment.end + timedelta(minutes=10)).isoformat()},
        }
    )
    ehr.put(
        {
            "resourceType": "Condition",
            "id": "c1",
            "meta": _meta(1, 2),
            "subject": {"reference": "Patient/p9"},
            "encounter": {"reference": "Encounter/e1"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "K02.52"}]},
        }
    )
    ehr.put(
        {
            "resourceType": "Procedure",
            "id": "r1",
            "meta": _meta(1, 2),
            "status": "completed",
            "subject": {"reference": "Patient/p9"},
            "encounter": {"reference": "Encounter/e1"},
            "code": {"coding": [{"system": "http://www.ada.org/cdt", "code": "D2391"}]},
        }
    )

    first = fhir_poll(connector)
    _apply()

    assert first["Patient"] == 1 and first["Appointment"] == 1 and first["Encounter"] == 1
    rows = Message.objects.filter(direction="in")
    assert set(rows.values_list("status", flat=True)) == {"processed"}, list(
        rows.values_list("message_type", "last_error")
    )
    maja = PatientIdentifier.objects.get(
        system="DEN-EHR", value_bidx=identifier_index("p1")
    ).patient
    assert maja.phone == "7205550100"
    booked = Appointment.objects.get(external_id="a1")
    assert booked.patient == maja and booked.channel == "location"
    encounter = Encounter.objects.get(appointment=visit.appointment)
    assert list(encounter.charges.values_list("procedure_code", flat=True)) == ["D2391"]

    again = fhir_poll(connector)
    assert sum(again.values()) == 0, "a repeated poll stores nothing new"

    ehr.put(
        {**patient, "meta": _meta(2, 5), "telecom": [{"system": "phone", "value": "720-555-0177"}]}
    )
    third = fhir_poll(connector)
    _apply()
    assert third["Patient"] == 1
    maja.refresh_from_db()
    assert maja.phone == "7205550177"
    assert any("_lastUpdated=ge" in path for path in ehr.requests)
