"""Patient registration over /api/v1/patients/ (scheduling/api/patients.py)."""

from __future__ import annotations

from datetime import date

import pytest

from patients.models import Patient
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, agent):
    client.force_login(agent)
    return client


def test_register_refuses_a_duplicate_with_409_then_accepts_when_confirmed(api):
    f.patient(first_name="Maria", last_name="Gonzalez", date_of_birth=date(1985, 4, 12))
    body = {
        "first_name": "Maria",
        "last_name": "Gonzales",
        "date_of_birth": "1985-04-12",
        "zip_code": "80202",
    }

    refused = api.post("/api/v1/patients/", body, "application/json")
    assert refused.status_code == 409
    assert refused.json()["candidates"][0]["patient"]["last_name"] == "Gonzalez"
    assert Patient.objects.count() == 1

    created = api.post(
        "/api/v1/patients/", {**body, "confirmed_not_duplicate": True}, "application/json"
    )
    assert created.status_code == 201
    assert Patient.objects.count() == 2


def test_register_rejects_malformed_input(api):
    response = api.post(
        "/api/v1/patients/", {"first_name": "A", "date_of_birth": "soon"}, "application/json"
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"last_name", "date_of_birth"}
