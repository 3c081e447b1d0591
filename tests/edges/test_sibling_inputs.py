"""The same classes of bug as the seventeen, on the parameters and pages next to them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from scheduling.validators import validate_npi

from .conftest import outcome_of

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "path,params",
    [
        ("Practitioner", {"_id": "²"}),
        ("Appointment", {"location": "Location/\u0661"}),
        ("Slot", {"schedule": "Schedule/¹-1"}),
        ("Schedule", {"actor": "Practitioner/²"}),
        ("Patient", {"_count": "1e3"}),
        ("Slot", {"start": "lt0001-01-01T00:00:00+01:00x"}),
    ],
)
def test_it_refuses_malformed_search_parameters_with_an_outcome(fhir, net, path, params):
    status, code, _ = outcome_of(fhir.get(f"/fhir/r4/{path}", params))
    assert (status, code) == (400, "invalid")


@pytest.mark.parametrize(
    "path,params",
    [
        ("Patient", {"_id": HUGE}),
        ("Appointment", {"patient": f"Patient/{HUGE}"}),
        ("Patient", {"identifier": f"urn:carehub:patient|{HUGE}"}),
    ],
)
def test_a_valid_id_past_bigint_names_nothing(fhir, net, path, params):
    """A valid FHIR id the hub could never have issued: an empty searchset
    (search.html#errors), not a database error."""
    response = fhir.get(f"/fhir/r4/{path}", params)
    assert response.status_code == 200 and response.json()["total"] == 0


@pytest.mark.parametrize("value", ["0001-01-01", "lt0001-01-01T00:00:00+01:00", "gt9999-12-31"])
def test_it_searches_slots_at_the_edges_of_the_calendar(fhir, net, value):
    assert fhir.get("/fhir/r4/Slot", {"start": value}).status_code == 200


@pytest.mark.parametrize("path", ["Schedule/¹-1", f"Appointment/{HUGE}", "Slot/%00"])
def test_it_answers_malformed_read_ids_with_404(fhir, net, path):
    assert outcome_of(fhir.get(f"/fhir/r4/{path}"))[0] in {400, 404}


def test_it_refuses_find_dates_past_the_calendar_window(fhir, net):
    import json

    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "valueReference": {"reference": f"Patient/{net.patient.pk}"}},
            {"name": "service-type", "valueCoding": {"code": "exam"}},
            {"name": "start", "valueDate": "9999-12-31"},
        ],
    }
    response = fhir.post(
        "/fhir/r4/Appointment/$find", json.dumps(body), content_type="application/fhir+json"
    )
    status, code, message = outcome_of(response)
    assert (status, code) == (400, "invalid") and message.startswith("start:")


@pytest.mark.parametrize(
    "url",
    [
        "/admin/scheduling/location/?q=%00",
        "/admin/auth/user/?q=%00",
        "/admin/integrations/message/?q=%00",
    ],
)
def test_it_refuses_nul_on_every_admin_changelist(client, admin_user, url):
    client.force_login(admin_user)
    assert client.get(url).status_code == 400


def test_it_ignores_malformed_drill_ids_and_pages(client, ops_manager):
    client.force_login(ops_manager)
    assert client.get("/kpi/drill/bookings/", {"provider": "²", "page": "abc"}).status_code == 200
    assert client.get("/kpi/drill/bookings/", {"provider": HUGE}).status_code == 200


def test_it_refuses_kpi_dates_past_the_calendar_window(client, ops_manager):
    client.force_login(ops_manager)
    assert client.get("/kpi/", {"date_from": "9999-12-30"}).status_code == 400


def test_the_console_tells_an_agent_to_pick_a_patient_for_an_impossible_id(client, agent):
    client.force_login(agent)
    response = client.post(
        reverse("console:patient_open"), {"patient_id": HUGE}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and b"Pick a patient." in response.content


def test_an_npi_in_superscript_digits_is_invalid_not_a_crash():
    with pytest.raises(ValidationError):
        validate_npi("²" * 10)


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Parameters", "parameter": None},
        {"resourceType": "Parameters", "parameter": [{"name": "appointment", "resource": None}]},
    ],
)
def test_it_reads_null_where_a_list_belongs_as_nothing_given(fhir, net, body):
    """Found by the Hypothesis fuzzer: JSON null for an optional array was iterated."""
    import json

    response = fhir.post(
        "/fhir/r4/Appointment/$find", json.dumps(body), content_type="application/fhir+json"
    )
    assert outcome_of(response)[0] == 400
