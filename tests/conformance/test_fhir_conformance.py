"""FHIR R4 conformance: what the hub emits is valid R4, valid R4 searches are answered, and
the IHE ITI Scheduling 1.0.0 operations take IHE's names.

Every resource the server answers here, for each resource type and each search parameter
of the CapabilityStatement, goes through the independent validator of
``tests/conformance/fhir_validator.py`` (HL7's R4 JSON schema, fhir.resources, and the R4
JSON and URI rules), as does what the relay sends to FHIR connectors. Each case names
the clause of the specification it follows.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.fhir import resources as r
from integrations.fhir.capability import capability_statement
from integrations.models import ApiToken, Connector, OutboxEvent
from integrations.relay import build_wire
from patients.models import PatientIdentifier
from scheduling.models import Appointment
from tests import factories as f
from tests.conformance.fhir_validator import assert_valid, validate

pytestmark = pytest.mark.django_db


def valid(resource: dict) -> None:
    assert_valid(resource)


@pytest.fixture
def appointment():
    location = f.location(address_line="1 Main", city="Denver", state="CO", phone="3035550100")
    provider = f.provider(locations=[location])
    patient = f.patient(email="p@example.org", middle_name="Lee", address_line="2 Elm")
    PatientIdentifier.objects.create(patient=patient, system="DEN-EHR", value="E1")
    slot = f.slot(provider=provider, location=location, start=timezone.now() + timedelta(days=1))
    return f.appointment(patient=patient, slot=slot, appointment_type=f.appointment_type())


@pytest.mark.parametrize(
    ("event_type", "aggregate"),
    [
        ("appointment.booked", "appointment"),
        ("appointment.cancelled", "appointment"),
        ("patient.created", "patient"),
        ("patient.updated", "patient"),
    ],
)
def test_what_the_relay_sends_to_fhir_connectors_is_valid_r4(appointment, event_type, aggregate):
    connector = Connector.objects.create(
        name="EHR",
        kind=Connector.Kind.FHIR_R4,
        role=Connector.Role.LOCATION_EHR,
        location=appointment.location,
        endpoint="http://127.0.0.1:1/fhir",
    )
    if event_type == "appointment.cancelled":
        appointment.status, appointment.cancel_reason = "cancelled", "patient_request"
        appointment.save()
    aggregate_id = appointment.pk if aggregate == "appointment" else appointment.patient_id
    event = OutboxEvent(event_type=event_type, aggregate_type=aggregate, aggregate_id=aggregate_id)
    wire = build_wire(event, connector, "H1")
    assert json.loads(wire.raw) == wire.resource
    valid(wire.resource)


def test_every_server_resource_shape_is_valid_r4(appointment):
    patient, provider, location = appointment.patient, appointment.provider, appointment.location
    slot = appointment.slot_links.get().slot
    for resource in (
        r.patient_resource(patient),
        r.practitioner_resource(provider),
        r.location_resource(location),
        r.schedule_resource(provider, location),
        r.slot_resource(slot),
        r.appointment_resource(appointment),
        capability_statement("http://testserver/fhir/r4"),
    ):
        valid(resource)


# -- the server, through its HTTP API ------------------------------------------------
class Server:
    """A bearer-token client whose every answer must pass the validator."""

    def __init__(self, user) -> None:
        _, key = ApiToken.issue(user)
        self.client = Client(headers={"Authorization": f"Bearer {key}"})
        self.seen: set[str] = set()

    def _check(self, response) -> tuple[int, dict]:
        assert response["Content-Type"] == "application/fhir+json"
        body = response.json()
        assert_valid(body)
        self.seen.add(body["resourceType"])
        self.seen.update(e["resource"]["resourceType"] for e in body.get("entry", []))
        return response.status_code, body

    def get(self, path: str, **params) -> tuple[int, dict]:
        return self._check(self.client.get(f"/fhir/r4/{path}", params))

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        return self._check(
            self.client.post(
                f"/fhir/r4/{path}", json.dumps(body), content_type="application/fhir+json"
            )
        )


def ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


@pytest.fixture
def world(appointment):
    """The booked appointment, a free slot beside it, and a patient with a feed's MRN
    whose assigning authority has a space in it, as a real Cerner feed sends."""
    PatientIdentifier.objects.create(patient=appointment.patient, system="TEC MRN", value="M77")
    booked = appointment.slot_links.get().slot
    free = f.slot(
        provider=appointment.provider,
        location=appointment.location,
        start=booked.start + timedelta(hours=2),
    )
    appointment.appointment_type.code = "exam"
    appointment.appointment_type.save()
    return appointment, free


@pytest.fixture
def server(agent):
    return Server(agent)


def test_it_encodes_an_assigning_authority_with_a_space_as_a_uri(server, world):
    """datatypes.html#uri (Identifier.system is a uri: RFC 3986, no whitespace)."""
    appointment, _ = world
    _, patient = server.get(f"Patient/{appointment.patient_id}")
    systems = [i["system"] for i in patient["identifier"]]
    assert "urn:carehub:source:TEC%20MRN" in systems
    assert not any(" " in s for s in systems)
    # The system as emitted finds the patient again (search.html#token).
    _, found = server.get("Patient", identifier="urn:carehub:source:TEC%20MRN|M77")
    assert ids(found) == [str(appointment.patient_id)]


def test_an_empty_searchset_has_no_entry_array(server, world):
    """json.html#2.6.2 (arrays are never empty) and bundle.html (entry is 0..*)."""
    status, bundle = server.get("Appointment", status="proposed")
    assert status == 200 and bundle["total"] == 0
    assert "entry" not in bundle


@pytest.mark.parametrize(
    "form",
    ["Patient/{pk}", "{pk}", "http://testserver/fhir/r4/Patient/{pk}"],
)
def test_it_accepts_every_form_of_a_reference_parameter(server, world, form):
    """search.html#reference: [type]/[id], [id] and an absolute URL."""
    appointment, _ = world
    status, bundle = server.get("Appointment", patient=form.format(pk=appointment.patient_id))
    assert status == 200 and ids(bundle) == [str(appointment.pk)]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("patient", "Patient/not-ours"),
        ("patient", "Group/1"),
        ("_id", "abc-1"),
        ("status", "busy-tentative"),
        ("status", "entered-in-error"),
    ],
)
def test_a_valid_value_that_names_nothing_gives_an_empty_bundle(server, world, name, value):
    """search.html#errors: only a value the server cannot parse is an error."""
    resource = "Slot" if name == "status" else "Appointment"
    status, bundle = server.get(resource, **{name: value})
    assert status == 200 and bundle["total"] == 0 and "entry" not in bundle


def test_a_value_that_is_not_valid_fhir_is_refused_with_an_outcome(server, world):
    """search.html#errors: 400 with an OperationOutcome."""
    status, outcome = server.get("Appointment", patient="Patient/has space")
    assert status == 400 and outcome["issue"][0]["code"] == "invalid"
    status, outcome = server.get("Slot", start="ge2013-13")
    assert status == 400 and "not a FHIR date" in outcome["issue"][0]["diagnostics"]


def test_slot_status_takes_or_lists(server, world):
    """search.html#combining: a comma in one value is OR; slot.html SlotStatus codes."""
    appointment, free = world
    booked = appointment.slot_links.get().slot
    _, either = server.get("Slot", status="free,busy")
    assert set(ids(either)) == {str(booked.pk), str(free.pk)}
    _, only_free = server.get("Slot", status="free")
    assert ids(only_free) == [str(free.pk)]


def test_month_and_year_precision_dates_cover_their_whole_period(server, world):
    """search.html#date: "2013-12" is the whole month; prefixes compare whole periods."""
    appointment, free = world
    starts = [appointment.start, free.start]
    month, year = appointment.start.strftime("%Y-%m"), appointment.start.strftime("%Y")
    in_month = sum(s.strftime("%Y-%m") == month for s in starts)
    in_year = sum(s.strftime("%Y") == year for s in starts)
    assert server.get("Slot", start="ge2013-12")[1]["total"] == 2
    assert server.get("Slot", start="2013-12")[1]["total"] == 0
    assert server.get("Slot", start=f"lt{year}")[1]["total"] == 0
    assert server.get("Slot", start=f"le{year}")[1]["total"] == in_year
    assert server.get("Slot", start=f"eq{month}")[1]["total"] == in_month
    assert server.get("Slot", start=f"ne{month}")[1]["total"] == 2 - in_month
    _, appointments = server.get("Appointment", date=month)
    assert ids(appointments) == [str(appointment.pk)]
    _, born = server.get("Patient", birthdate=appointment.patient.date_of_birth.strftime("%Y-%m"))
    assert str(appointment.patient_id) in ids(born)


def _find(server, patient_pk: int, *, names: str = "ihe") -> tuple[int, dict]:
    if names == "ihe":
        parameters = [
            {"name": "patient-reference", "valueReference": {"reference": f"Patient/{patient_pk}"}},
            {"name": "visit-type", "valueString": "urn:carehub:appointment-type|exam"},
        ]
    else:
        parameters = [
            {"name": "patient", "valueReference": {"reference": f"Patient/{patient_pk}"}},
            {"name": "service-type", "valueCoding": {"code": "exam"}},
        ]
    return server.post("Appointment/$find", {"resourceType": "Parameters", "parameter": parameters})


def test_ihe_find_hold_book_by_reference(server, world):
    """IHE ITI Scheduling 1.0.0, ITI-115/116/117: $find with patient-reference gives
    proposals with ids; $hold and $book name them with appointment-reference."""
    appointment, free = world
    status, proposals = _find(server, appointment.patient_id)
    assert status == 200, proposals
    offered = [e for e in proposals["entry"] if e["search"]["mode"] == "match"]
    assert offered and all(e["resource"]["id"] for e in offered)
    assert all(e["fullUrl"].endswith(f"/Appointment/{e['resource']['id']}") for e in offered)
    chosen = next(e for e in offered if e["resource"]["slot"][0]["reference"] == f"Slot/{free.pk}")

    status, held = server.post(
        "Appointment/$hold",
        {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "appointment-reference",
                    "valueReference": {"reference": chosen["fullUrl"]},
                }
            ],
        },
    )
    assert status == 200, held
    pending = held["entry"][0]["resource"]
    assert pending["status"] == "pending" and pending["id"]
    # Both ids resolve as their Bundles' fullUrls say (bundle.html: fullUrl = [base]/type/id).
    assert server.get(f"Appointment/{chosen['resource']['id']}")[1]["status"] == "proposed"
    assert server.get(f"Appointment/{pending['id']}")[1]["status"] == "pending"

    status, booked = server.post(
        "Appointment/$book",
        {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "appointment-reference",
                    "valueReference": {"reference": f"Appointment/{pending['id']}"},
                }
            ],
        },
    )
    assert status == 200, booked
    made = Appointment.objects.get(pk=booked["entry"][0]["resource"]["id"])
    assert made.patient_id == appointment.patient_id and made.start == free.start


def test_ihe_book_takes_an_appointment_resource(server, world):
    """IHE ITI Scheduling 1.0.0, ITI-117: $book with appointment-resource."""
    appointment, free = world
    _, proposals = _find(server, appointment.patient_id)
    chosen = next(
        e["resource"]
        for e in proposals["entry"]
        if e["resource"].get("slot", [{}])[0].get("reference") == f"Slot/{free.pk}"
    )
    status, booked = server.post(
        "Appointment/$book",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "appointment-resource", "resource": chosen}],
        },
    )
    assert status == 200, booked
    assert booked["entry"][0]["resource"]["status"] == "booked"


def test_the_servers_own_parameter_names_keep_working(server, world):
    appointment, _ = world
    status, proposals = _find(server, appointment.patient_id, names="own")
    assert status == 200 and ids(proposals)


def test_an_unknown_proposal_reference_is_refused_clearly(server, world):
    status, outcome = server.post(
        "Appointment/$hold",
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "appointment-reference", "valueReference": {"reference": "Appointment/9"}}
            ],
        },
    )
    assert status == 400
    assert "names no appointment proposed by $find" in outcome["issue"][0]["diagnostics"]


def test_the_capability_statement_names_ihes_operation_definitions(server):
    """IHE ITI Scheduling 1.0.0 canonical URLs (OperationDefinition appointment-*)."""
    _, capability = server.get("metadata")
    appointment = next(r for r in capability["rest"][0]["resource"] if r["type"] == "Appointment")
    assert {o["definition"] for o in appointment["operation"]} == {
        f"https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-{op}"
        for op in ("find", "hold", "book")
    }


def test_every_resource_type_and_every_search_passes_the_validator(server, world):
    """Item by item of the CapabilityStatement: each read and each search parameter.
    The validator runs inside Server on every answer."""
    appointment, free = world
    patient, provider, location = appointment.patient, appointment.provider, appointment.location
    schedule = f"{provider.pk}-{location.pk}"
    values = {
        ("Patient", "identifier"): "urn:carehub:source:TEC%20MRN|M77",
        ("Patient", "name"): patient.last_name,
        ("Patient", "family"): patient.last_name,
        ("Patient", "given"): patient.first_name,
        ("Patient", "birthdate"): patient.date_of_birth.isoformat(),
        ("Practitioner", "identifier"): provider.npi,
        ("Practitioner", "name"): provider.last_name,
        ("Location", "identifier"): location.code,
        ("Location", "name"): location.name,
        ("Schedule", "actor"): f"Location/{location.pk}",
        ("Slot", "schedule"): f"Schedule/{schedule}",
        ("Slot", "start"): f"ge{free.start.strftime('%Y-%m')}",
        ("Slot", "status"): "free",
        ("Slot", "service-type"): "exam",
        ("Appointment", "patient"): f"Patient/{patient.pk}",
        ("Appointment", "date"): appointment.start.strftime("%Y-%m"),
        ("Appointment", "status"): "booked",
        ("Appointment", "location"): f"Location/{location.pk}",
        ("Appointment", "practitioner"): f"Practitioner/{provider.pk}",
    }
    _, capability = server.get("metadata")
    reads = {
        "Patient": patient.pk,
        "Practitioner": provider.pk,
        "Location": location.pk,
        "Schedule": schedule,
        "Slot": free.pk,
        "Appointment": appointment.pk,
    }
    for entry in capability["rest"][0]["resource"]:
        kind = entry["type"]
        assert server.get(f"{kind}/{reads[kind]}")[0] == 200
        for param in entry["searchParam"]:
            if param["name"] in {"_count"}:
                continue
            value = str(reads[kind]) if param["name"] == "_id" else values[(kind, param["name"])]
            status, bundle = server.get(kind, **{param["name"]: value})
            assert status == 200 and bundle["total"] >= 1, (kind, param["name"], bundle)
    assert server.get("Schedule", _id="0-0")[1]["total"] == 0, "_id filters schedules too"
    assert server.get("Slot", _count="1")[1]["link"][-1]["relation"] == "next"
    assert server.get("Patient/999999")[0] == 404
    _find(server, patient.pk)
    assert server.seen >= {*reads, "Bundle", "CapabilityStatement", "OperationOutcome"}


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        (
            {"resourceType": "Patient", "identifier": [{"system": "urn:x:TEC MRN", "value": "1"}]},
            "not an absolute RFC 3986 URI",
        ),
        ({"resourceType": "Bundle", "type": "searchset", "entry": []}, "empty array"),
        ({"resourceType": "Slot", "schedule": {"reference": "Schedule/1"}}, "status"),
        (
            {"resourceType": "Appointment", "status": "booked", "participant": [{"status": "x"}]},
            "app-3",
        ),
    ],
)
def test_the_validator_refuses_what_r4_forbids(resource, problem):
    """The check cannot pass by accident: each R4 rule it enforces, broken once."""
    assert any(problem in p for p in validate(resource)), validate(resource)
