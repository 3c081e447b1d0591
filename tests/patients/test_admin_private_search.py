"""Admin search over PHI never puts the typed term in a URL (address bar, history, logs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from patients.models import PatientIdentifier
from tests import factories as f

pytestmark = pytest.mark.django_db

PHI_CHANGELISTS = [
    "admin:patients_patient_changelist",
    "admin:patients_patientidentifier_changelist",
    "admin:patients_coverage_changelist",
    "admin:scheduling_appointment_changelist",
    "admin:scheduling_waitlist_changelist",
]


@pytest.fixture
def people():
    rivera = f.patient(first_name="Alexa", last_name="Riveraz")
    PatientIdentifier.objects.create(patient=rivera, system="DEN-PMS", value="MRN-77", kind="MR")
    coverage = f.coverage(patient=rivera)
    coverage.member_id = "MEMBER-123"
    coverage.save()
    others = [f.patient(last_name=f"Other{i}") for i in range(3)]
    return rivera, others


def _search(client, url_name: str, term: str, query: str = ""):
    url = reverse(url_name) + query
    return client.post(url, {"_private_search": "1", "q": term})


def test_a_posted_search_finds_the_patient_with_the_name_in_no_url(client, admin_user, people):
    rivera, _ = people
    client.force_login(admin_user)

    response = _search(client, "admin:patients_patient_changelist", "Riveraz")

    assert response.status_code == 302
    location = response["Location"]
    assert "Riveraz" not in location and "qs=" in location
    page = client.get(location)
    body = page.content.decode()
    assert page.status_code == 200
    assert f"/admin/patients/patient/{rivera.pk}/change/" in body
    assert "Other0" not in body, "only the match is listed"
    assert 'value="Riveraz"' in body, "the box still shows what was typed"
    # No link on the page (paging, sorting, filters) carries the term.
    assert "q=Riveraz" not in body and "Riveraz&" not in body


def test_a_typed_get_search_is_moved_out_of_the_url(client, admin_user, people):
    client.force_login(admin_user)
    url = reverse("admin:patients_patient_changelist")

    response = client.get(url, {"q": "Riveraz", "status__exact": "active"})

    assert response.status_code == 302
    assert "Riveraz" not in response["Location"]
    assert "status__exact=active" in response["Location"], "filters are kept"
    assert "Riveraz" in client.get(response["Location"]).content.decode()


def test_the_search_token_is_this_sessions_own(client, admin_user, people, django_user_model):
    client.force_login(admin_user)
    location = _search(client, "admin:patients_patient_changelist", "Riveraz")["Location"]
    other = django_user_model.objects.create_superuser("other.admin", password="x")
    client.force_login(other)  # a new session

    body = client.get(location).content.decode()

    assert 'value="Riveraz"' not in body, "another session cannot read the term"
    assert "Other0" in body, "the token is simply no search there"


@pytest.mark.parametrize("url_name", PHI_CHANGELISTS)
def test_every_phi_changelist_searches_by_post(client, admin_user, people, url_name):
    rivera, _ = people
    loc = f.location()
    slot = f.slot(
        provider=f.provider(locations=[loc]), location=loc, start=timezone.now() + timedelta(days=2)
    )
    f.appointment(patient=rivera, slot=slot, appointment_type=f.appointment_type())
    client.force_login(admin_user)
    page = client.get(reverse(url_name)).content.decode()
    assert 'id="changelist-search" method="post"' in page
    term = {
        "admin:patients_patientidentifier_changelist": "MRN-77",
        "admin:patients_coverage_changelist": "MEMBER-123",
    }.get(url_name, "Riveraz")

    response = _search(client, url_name, term)

    assert response.status_code == 302 and term not in response["Location"]
    assert client.get(response["Location"]).status_code == 200


def test_the_raw_id_lookup_popup_searches_privately_too(client, admin_user, people):
    rivera, _ = people
    client.force_login(admin_user)

    response = _search(
        client, "admin:patients_patient_changelist", "Riveraz", "?_to_field=id&_popup=1"
    )

    location = response["Location"]
    assert "_popup=1" in location and "_to_field=id" in location and "Riveraz" not in location
    body = client.get(location).content.decode()
    assert 'data-popup-opener="' + str(rivera.pk) + '"' in body
