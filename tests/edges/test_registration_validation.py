"""Registration refuses what cannot be a person's details, at every door alike."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from patients.models import Patient
from patients.phones import normalize_phone
from patients.validation import ERR_DOB_FUTURE, ERR_DOB_TOO_OLD, ERR_ZIP

pytestmark = pytest.mark.django_db


def _register(api, **fields):
    body = {"first_name": "Robin", "last_name": "Okafor", "date_of_birth": "1985-04-12"}
    body.update(fields)
    return api.post("/api/v1/patients/", body, format="json")


@pytest.mark.parametrize(
    "name", ["Ann\rOBX|1", "Ann\nLee", "Ann\tLee", "Ann\x1bLee", "Ann\u2028Lee"]
)
def test_it_refuses_control_characters_in_names(api, name):
    response = _register(api, last_name=name)
    assert response.status_code == 400 and "last_name" in response.json()
    assert not Patient.objects.exists()


def test_it_refuses_a_date_of_birth_in_the_future(api):
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = _register(api, date_of_birth=tomorrow.isoformat())
    assert response.status_code == 400
    assert response.json()["date_of_birth"] == [ERR_DOB_FUTURE]


@pytest.mark.parametrize("dob", ["1890-01-01", "1899-12-31"])
def test_it_refuses_an_impossibly_old_date_of_birth(api, dob):
    response = _register(api, date_of_birth=dob)
    assert response.status_code == 400
    assert response.json()["date_of_birth"] == [ERR_DOB_TOO_OLD]


def test_it_registers_a_centenarian(api):
    dob = date(timezone.localdate().year - 101, 1, 2)
    assert _register(api, date_of_birth=dob.isoformat()).status_code == 201


@pytest.mark.parametrize(
    "zip_code", ["ABCDE", "8020", "80202-12", "\uff18\uff10\uff12\uff10\uff12"]
)
def test_it_refuses_a_zip_that_is_not_a_us_zip(api, zip_code):
    response = _register(api, zip_code=zip_code)
    assert response.status_code == 400 and response.json()["zip_code"] == [ERR_ZIP]


@pytest.mark.parametrize("zip_code", ["80202", "80202-1234"])
def test_it_accepts_zip_and_zip_plus_four(api, zip_code):
    assert _register(api, zip_code=zip_code).status_code == 201


@pytest.mark.parametrize(
    "typed",
    [
        "+1 (303) 555-0101",
        "303.555.0101",
        "".join(chr(0x0660 + int(d)) for d in "3035550101"),  # Arabic-Indic digits
        "".join(chr(0xFF10 + int(d)) for d in "3035550101"),  # full-width digits
    ],
)
def test_it_stores_a_phone_in_any_digits_normalised(api, typed):
    response = _register(api, phone=typed)
    assert response.status_code == 201, response.json()
    assert Patient.objects.get().phone == "3035550101"


@pytest.mark.parametrize("typed", ["123", "555-0101", "1234567890", "call me"])
def test_it_refuses_a_phone_number_that_cannot_exist(api, typed):
    response = _register(api, phone=typed)
    assert response.status_code == 400 and "phone" in response.json()


def test_a_search_by_a_partial_number_keeps_its_digits():
    assert normalize_phone("555-0101") == "5550101"
    assert normalize_phone("+44 20 7946 0958") == "442079460958"


def test_the_console_registration_form_applies_the_same_rules(client, agent):
    client.force_login(agent)
    from scheduling.console.forms import RegisterForm

    form = RegisterForm(
        data={
            "first_name": "Ann\rOBX",
            "last_name": "Okafor",
            "date_of_birth": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "zip_code": "ABCDE",
            "phone": "123",
            "sex": "F",
            "preferred_language": "en",
        }
    )
    assert not form.is_valid()
    assert {"first_name", "date_of_birth", "zip_code", "phone"} <= set(form.errors)
