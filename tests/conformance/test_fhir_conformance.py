"""Every FHIR resource the hub emits validates against fhir.resources' R4B models: what the
relay sends to FHIR connectors and what the server answers (see also test_fhir_server)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from integrations.fhir import resources as r
from integrations.fhir.capability import capability_statement
from integrations.models import Connector, OutboxEvent
from integrations.relay import build_wire
from patients.models import PatientIdentifier
from tests import factories as f

pytestmark = pytest.mark.django_db


def valid(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


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
