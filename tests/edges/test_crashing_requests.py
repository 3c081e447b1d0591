"""The seventeen requests a security review saw crash the hub, each now a clear 4xx.

FHIR answers with an OperationOutcome, the API with DRF's error body, pages with the
400/404 page. None of the messages repeats the input (it may be a name or a DOB).
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from scheduling.models import Appointment

from .conftest import FHIR, outcome_of

pytestmark = pytest.mark.django_db


# -- FHIR --------------------------------------------------------------------------------
def test_it_answers_a_superscript_digit_id_with_404(fhir, net):
    status, code, _ = outcome_of(fhir.get("/fhir/r4/Patient/²"))
    assert (status, code) == (404, "not-found")


def test_it_refuses_an_offset_written_as_a_float(fhir, net):
    status, code, message = outcome_of(fhir.get("/fhir/r4/Patient", {"_offset": "1e23"}))
    assert (status, code) == (400, "invalid") and "_offset" in message


def test_it_refuses_an_offset_past_bigint(fhir, net):
    response = fhir.get("/fhir/r4/Patient", {"_offset": "100000000000000000000000"})
    status, code, _ = outcome_of(response)
    assert (status, code) == (400, "invalid")


def test_it_refuses_a_nul_in_a_patient_name_search(fhir, net):
    status, code, message = outcome_of(fhir.get("/fhir/r4/Patient?name=%00"))
    assert (status, code) == (400, "invalid") and "NUL" in message


def test_it_refuses_a_nul_in_a_posted_family_search(fhir, net):
    response = fhir.post(
        "/fhir/r4/Patient/_search", "family=%00", content_type="application/x-www-form-urlencoded"
    )
    status, code, _ = outcome_of(response)
    assert (status, code) == (400, "invalid")


def test_it_searches_appointments_on_the_last_day_of_the_calendar(fhir, net):
    response = fhir.get("/fhir/r4/Appointment", {"date": "9999-12-31"})
    assert response.status_code == 200
    assert response.json()["total"] == 0


def test_it_searches_appointments_from_an_instant_with_an_extreme_offset(fhir, net):
    response = fhir.get("/fhir/r4/Appointment", {"date": "ge9999-12-31T23:59:59-23:59"})
    assert response.status_code == 200
    assert response.json()["total"] == 0


@pytest.mark.parametrize(
    "parameter",
    ["x", [1, 2], [{"name": "patient", "valueReference": {"reference": "Patient/¹"}}]],
    ids=["string", "numbers", "superscript-reference"],
)
def test_it_refuses_find_parameters_of_the_wrong_shape(fhir, net, parameter):
    body = {"resourceType": "Parameters", "parameter": parameter}
    response = fhir.post("/fhir/r4/Appointment/$find", json.dumps(body), content_type=FHIR)
    status, code, message = outcome_of(response)
    assert status == 400 and code in {"structure", "invalid"}
    assert "¹" not in message


def _appointment(net, **override):
    resource = {
        "resourceType": "Appointment",
        "status": "proposed",
        "serviceType": [{"coding": [{"code": "exam"}]}],
        "slot": [{"reference": f"Slot/{net.slot.pk}"}],
        "participant": [
            {"actor": {"reference": f"Patient/{net.patient.pk}"}, "status": "accepted"}
        ],
    }
    resource.update(override)
    return json.dumps(resource)


@pytest.mark.parametrize(
    "override,where",
    [
        ({"participant": ["x"]}, "Appointment.participant[0]"),
        ({"participant": [{"actor": "Patient/1", "status": "accepted"}]}, "actor"),
        ({"serviceType": [{"coding": "x"}]}, "coding"),
    ],
    ids=["participant-string", "actor-string", "coding-string"],
)
def test_it_refuses_an_appointment_of_the_wrong_shape(fhir, net, override, where):
    response = fhir.post("/fhir/r4/Appointment", _appointment(net, **override), content_type=FHIR)
    status, code, message = outcome_of(response)
    assert (status, code) == (400, "structure") and where in message
    assert not Appointment.objects.exists()


def test_it_refuses_a_body_nested_five_thousand_deep(fhir, net):
    body = "[" * 5000 + "]" * 5000
    status, code, message = outcome_of(fhir.post("/fhir/r4/Appointment", body, content_type=FHIR))
    assert (status, code) == (400, "too-long") and "nests" in message


# -- API ---------------------------------------------------------------------------------
def test_it_refuses_deeply_nested_json_to_patient_search(api):
    body = '{"query": ' + "[" * 5000 + "]" * 5000 + "}"
    response = api.post("/api/v1/patients/search/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nests" in response.json()["detail"]


def test_it_refuses_a_slot_search_from_the_end_of_the_calendar(api, net):
    body = {
        "patient_id": net.patient.pk,
        "appointment_type_id": net.appointment_type.pk,
        "date_from": "9999-12-31",
    }
    response = api.post("/api/v1/slots/search/", body, format="json")
    assert response.status_code == 400
    assert "date_from" in response.json()


# -- pages -------------------------------------------------------------------------------
def test_it_answers_a_drill_down_page_past_the_end_with_404(client, ops_manager):
    client.force_login(ops_manager)
    response = client.get("/kpi/drill/bookings/", {"page": "9999999999999999999"})
    assert response.status_code == 404
    assert b"This page does not exist" in response.content


def test_it_refuses_a_nul_search_on_the_admin_patient_list(client, admin_user, net):
    client.force_login(admin_user)
    url = reverse("admin:patients_patient_changelist")
    response = client.post(url, {"_private_search": "1", "q": "\x00"})
    assert response.status_code == 400
    assert b"NUL" in response.content
    response = client.get(url, {"q": "\x00"})
    assert response.status_code == 400
