"""The OpenAPI schema at /api/v1/schema/ describes the answers the API really gives."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def spec(api) -> dict:
    response = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_its_error_answers(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "404"} <= codes, (method, path)
            if method == "post":
                assert {"409", "415"} <= codes, (method, path)


def test_the_error_schema_admits_field_errors_and_service_errors(spec):
    schema = spec["paths"]["/api/v1/holds/"]["post"]["responses"]["400"]["content"][
        "application/json"
    ]["schema"]
    assert schema["additionalProperties"] == {}
    assert {"detail", "code", "reasons"} <= set(schema["properties"])
    assert not schema.get("required")


def test_required_text_fields_say_a_blank_string_is_refused(spec):
    query = spec["components"]["schemas"]["PatientSearchInput"]["properties"]["query"]
    assert query["minLength"] == 1 and query["pattern"] == r"\S"


def test_an_unknown_api_url_answers_json_not_a_page(api):
    response = api.post("/api/v1/holds/not-a-number/release/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_it_refuses_a_number_where_text_belongs(api):
    response = api.post("/api/v1/patients/search/", {"query": 0}, format="json")
    assert response.status_code == 400
    assert response.json() == {"query": ["Expected a JSON string."]}


def test_it_reports_every_field_error_at_once(api):
    response = api.post(
        "/api/v1/slots/search/", {"patient_id": "7", "date_from": "2026-13-01"}, format="json"
    )
    assert response.status_code == 400
    assert {"patient_id", "appointment_type_id", "date_from"} <= set(response.json())
