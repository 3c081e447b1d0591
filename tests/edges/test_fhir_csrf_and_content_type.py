"""FHIR trusts a browser session only with a CSRF token, and reads bodies only as
application/fhir+json (FHIR R4 http.html#mime-type: the correct mime type SHALL be used)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from scheduling.models import Hold

from .conftest import FHIR, outcome_of

pytestmark = pytest.mark.django_db


def _hold_body(net) -> str:
    appointment = {
        "resourceType": "Appointment",
        "status": "proposed",
        "serviceType": [{"coding": [{"code": "exam"}]}],
        "slot": [{"reference": f"Slot/{net.slot.pk}"}],
        "participant": [
            {"actor": {"reference": f"Patient/{net.patient.pk}"}, "status": "accepted"}
        ],
    }
    return json.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "appointment", "resource": appointment}],
        }
    )


@pytest.fixture
def browser(agent) -> Client:
    """An agent's browser: logged in by session cookie, CSRF enforced as in production."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    return client


def test_it_refuses_a_cross_site_text_plain_hold_on_a_session(browser, net):
    response = browser.post(
        "/fhir/r4/Appointment/$hold", _hold_body(net), content_type="text/plain"
    )
    status, code, message = outcome_of(response)
    assert (status, code) == (403, "forbidden") and "CSRF" in message
    assert not Hold.objects.exists()


def test_it_refuses_a_session_hold_without_a_csrf_token_even_as_fhir_json(browser, net):
    response = browser.post("/fhir/r4/Appointment/$hold", _hold_body(net), content_type=FHIR)
    assert outcome_of(response)[:2] == (403, "forbidden")
    assert not Hold.objects.exists()


def test_it_places_a_session_hold_that_carries_the_csrf_token(browser, net):
    browser.get("/console/")  # the page sets the csrftoken cookie, as for any form
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/fhir/r4/Appointment/$hold",
        _hold_body(net),
        content_type=FHIR,
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200, response.content
    assert Hold.objects.filter(slot=net.slot).count() == 1


def test_it_lets_a_session_read_without_a_token(browser, net):
    assert browser.get(f"/fhir/r4/Patient/{net.patient.pk}").status_code == 200


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/json", "application/x-www-form-urlencoded", "application/fhir+xml"],
)
def test_it_refuses_a_bearer_write_that_is_not_fhir_json(fhir, net, content_type):
    response = fhir.post("/fhir/r4/Appointment/$hold", _hold_body(net), content_type=content_type)
    status, code, message = outcome_of(response)
    assert (status, code) == (415, "not-supported") and "application/fhir+json" in message
    assert not Hold.objects.exists()


def test_it_refuses_a_fhir_json_body_in_another_charset(fhir, net):
    response = fhir.post(
        "/fhir/r4/Appointment/$hold",
        _hold_body(net),
        content_type="application/fhir+json; charset=iso-8859-1",
    )
    assert outcome_of(response)[:2] == (415, "not-supported")


def test_it_accepts_fhir_json_with_the_utf8_charset(fhir, net):
    response = fhir.post(
        "/fhir/r4/Appointment/$hold",
        _hold_body(net),
        content_type="application/fhir+json; charset=utf-8",
    )
    assert response.status_code == 200
    assert Hold.objects.filter(slot=net.slot).count() == 1


def test_it_refuses_a_search_post_that_is_not_a_form(fhir, net):
    response = fhir.post("/fhir/r4/Patient/_search", "{}", content_type=FHIR)
    assert outcome_of(response)[:2] == (415, "not-supported")
