"""Property-based fuzzing of /fhir/r4/ with Hypothesis: search parameters, ids and
bodies for Appointment create, $find, $hold and $book.

The property: whatever arrives, the answer is FHIR JSON (a Bundle, the resource, or an
OperationOutcome) and never a 5xx. A fixed seed (derandomize) and a bounded number of
examples keep each run the same and within seconds.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.models import ApiToken
from tests import factories as f

FHIR = "application/fhir+json"
TYPES = ["Patient", "Practitioner", "Location", "Schedule", "Slot", "Appointment"]
PARAMS = [
    "_id", "_count", "_offset", "identifier", "name", "family", "given", "birthdate",
    "actor", "schedule", "start", "status", "service-type", "patient", "location",
    "practitioner", "date",
]  # fmt: skip
OPERATION_PARAMS = [
    "patient", "service-type", "visit-type", "start", "end", "location", "practitioner",
    "_count", "appointment",
]  # fmt: skip
FUZZ = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values that have broken parsers before: superscript and other-script digits, numbers
# past bigint, the ends of the calendar, extreme UTC offsets, NUL and other controls.
tricky = st.sampled_from(
    [
        "²", "\u0661", "1e23", "-1", "0", "99999999999999999999", "9999-12-31", "0001-01-01",
        "ge9999-12-31T23:59:59-23:59", "lt0001-01-01T00:00:00+14:00", "\x00", "a\rb",
        "Patient/¹", "Patient/1", "Schedule/1-1", "Practitioner/1", "Location/1", "free",
        "busy", "http://x|1", "urn:carehub:patient|1", "eq2024-02-30", "2024-01-01T25:00",
    ]
)  # fmt: skip
values = st.one_of(tricky, st.text(max_size=30), st.from_regex(r"-?[0-9]{1,25}", fullmatch=True))
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
reference = st.one_of(
    st.builds(lambda t, v: {"reference": f"{t}/{v}"}, st.sampled_from(TYPES), values),
    json_values,
)
appointment = st.fixed_dictionaries(
    {"resourceType": st.just("Appointment")},
    optional={
        "status": st.one_of(st.sampled_from(["proposed", "pending", "booked"]), json_values),
        "slot": st.one_of(st.lists(reference, max_size=2), json_values),
        "participant": st.one_of(
            st.lists(st.fixed_dictionaries({"actor": reference}), max_size=2), json_values
        ),
        "serviceType": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {"coding": st.lists(st.fixed_dictionaries({"code": values}), max_size=2)}
                ),
                max_size=2,
            ),
            json_values,
        ),
        "identifier": st.one_of(
            st.lists(
                st.fixed_dictionaries({"system": st.just("urn:carehub:hold"), "value": values})
            ),
            json_values,
        ),
    },
)
parameter = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(OPERATION_PARAMS), st.text(max_size=10))},
    optional={
        "valueReference": reference,
        "valueString": values,
        "valueDate": values,
        "valueInteger": st.integers(),
        "valueCoding": st.fixed_dictionaries({"code": values}),
        "resource": st.one_of(appointment, json_values),
    },
)
parameters = st.one_of(
    st.fixed_dictionaries(
        {
            "resourceType": st.just("Parameters"),
            "parameter": st.one_of(st.lists(parameter, max_size=5), json_values),
        }
    ),
    json_values,
)


@pytest.fixture
def fhir(admin_user) -> Client:
    location = f.location()
    provider = f.provider(locations=[location])
    f.appointment_type(code="exam")
    f.slot(provider=provider, location=location, start=timezone.now() + timedelta(days=2))
    f.patient()
    _, key = ApiToken.issue(admin_user)
    client = Client(raise_request_exception=False)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def _assert_fhir_answer(response) -> None:
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"] == FHIR
    body = json.loads(response.content)
    assert isinstance(body, dict) and "resourceType" in body


@pytest.mark.django_db
@FUZZ
@given(
    resource_type=st.sampled_from(TYPES),
    query=st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=4),
    as_post=st.booleans(),
)
def test_fhir_search_never_fails_on_any_parameters(fhir, resource_type, query, as_post):
    if as_post:
        response = fhir.post(
            f"/fhir/r4/{resource_type}/_search",
            urlencode(query),
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = fhir.get(f"/fhir/r4/{resource_type}?{urlencode(query)}")
    _assert_fhir_answer(response)


@pytest.mark.django_db
@FUZZ
@given(resource_type=st.sampled_from(TYPES), resource_id=st.one_of(values, st.text(min_size=1)))
def test_fhir_read_never_fails_on_any_id(fhir, resource_type, resource_id):
    response = fhir.get(f"/fhir/r4/{resource_type}/{quote(resource_id, safe='')}")
    _assert_fhir_answer(response)


@pytest.mark.django_db
@FUZZ
@given(operation=st.sampled_from(["$find", "$hold", "$book"]), body=parameters)
def test_fhir_operations_never_fail_on_any_body(fhir, operation, body):
    response = fhir.post(f"/fhir/r4/Appointment/{operation}", json.dumps(body), content_type=FHIR)
    _assert_fhir_answer(response)


@pytest.mark.django_db
@FUZZ
@given(body=st.one_of(appointment, json_values))
def test_fhir_appointment_create_never_fails_on_any_body(fhir, body):
    response = fhir.post("/fhir/r4/Appointment", json.dumps(body), content_type=FHIR)
    _assert_fhir_answer(response)
