"""Clients and a small network for the malformed-input tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from integrations.models import ApiToken
from tests import factories as f

FHIR = "application/fhir+json"
DAY = (datetime.now(tz=UTC) + timedelta(days=3)).replace(hour=16, minute=0, second=0, microsecond=0)


def bearer(user) -> dict[str, str]:
    _, key = ApiToken.issue(user)
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@pytest.fixture
def fhir(agent) -> Client:
    """An agent's FHIR client; server errors come back as responses, not exceptions."""
    client = Client(raise_request_exception=False)
    client.defaults.update(bearer(agent))
    return client


@pytest.fixture
def api(agent) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(**bearer(agent))
    return client


@dataclass
class Net:
    location: object
    provider: object
    appointment_type: object
    slot: object
    patient: object


@pytest.fixture
def net(db) -> Net:
    location = f.location()
    provider = f.provider(locations=[location])
    atype = f.appointment_type(code="exam", duration_minutes=30)
    slot = f.slot(provider=provider, location=location, start=DAY)
    patient = f.patient(first_name="Robin", last_name="Okafor")
    return Net(location, provider, atype, slot, patient)


def outcome_of(response) -> tuple[int, str, str]:
    """(status, issue code, diagnostics) of a FHIR error, asserting its shape."""
    assert response["Content-Type"] == FHIR
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    return response.status_code, issue["code"], issue["diagnostics"]
