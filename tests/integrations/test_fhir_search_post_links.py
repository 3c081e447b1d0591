"""POST [type]/_search keeps PHI out of the Bundle's links; GET search still works."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from integrations.models import ApiToken
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def fhir(agent):
    _, key = ApiToken.issue(agent)
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def allens():
    return [
        f.patient(first_name=f"Ada{i}", last_name="Allen", date_of_birth="1937-04-16")
        for i in range(3)
    ]


def test_post_search_echoes_no_phi_into_links_and_pages_by_reposting(fhir, allens):
    form = {"family": "Allen", "birthdate": "1937-04-16", "_count": "2"}
    bundle = fhir.post("/fhir/r4/Patient/_search", form).json()
    assert bundle["total"] == 3 and len(bundle["entry"]) == 2
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    for url in links.values():
        assert "Allen" not in url and "1937" not in url and "family" not in url
    assert urlsplit(links["self"]).path == "/fhir/r4/Patient/_search"
    assert parse_qs(urlsplit(links["self"]).query) == {"_count": ["2"]}

    # Following "next": post the same body to it; its query carries the page.
    following = urlsplit(links["next"])
    page2 = fhir.post(f"{following.path}?{following.query}", form).json()
    assert len(page2["entry"]) == 1
    seen = {e["resource"]["id"] for e in bundle["entry"] + page2["entry"]}
    assert seen == {str(p.pk) for p in allens}


def test_get_search_still_works_and_links_what_was_asked(fhir, allens):
    bundle = fhir.get("/fhir/r4/Patient", {"family": "Allen", "_count": "5"}).json()
    assert bundle["total"] == 3
    self_url = bundle["link"][0]["url"]
    assert urlsplit(self_url).path == "/fhir/r4/Patient" and "family=Allen" in self_url
