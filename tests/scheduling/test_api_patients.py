"""Patient search and context over /api/v1/: served by scheduling's API through the
console's read model."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from config.models import AuditEntry as LogEntry
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, agent):
    client.force_login(agent)
    return client


def test_search_finds_through_a_typo_by_post(api):
    maria = f.patient(first_name="Maria", last_name="Gonzalez")

    response = api.post("/api/v1/patients/search/", {"query": "Gonzlez"}, "application/json")

    assert response.status_code == 200
    (hit,) = response.json()["results"]
    assert hit["patient"]["id"] == maria.pk and "similar name" in hit["matched_on"]


def test_search_with_no_query_is_a_clear_400(api):
    response = api.post("/api/v1/patients/search/", {}, "application/json")
    assert response.status_code == 400
    assert "query" in response.json()


def test_context_is_served_and_audited(api, agent):
    p = f.patient()

    response = api.get(f"/api/v1/patients/{p.pk}/context/")

    assert response.status_code == 200
    assert response.json()["patient"]["id"] == p.pk
    assert LogEntry.objects.get(action=LogEntry.Action.ACCESS).actor == agent


def test_context_of_an_unknown_patient_is_404(api):
    assert api.get("/api/v1/patients/999999/context/").status_code == 404


def test_a_token_client_is_attributed_in_the_access_log(agent, capsys):
    from django.test import Client

    p = f.patient()
    call_command("issue_api_token", "agent.test")
    token = capsys.readouterr().out.strip()

    response = Client().get(
        f"/api/v1/patients/{p.pk}/context/", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    assert LogEntry.objects.get(action=LogEntry.Action.ACCESS).actor == agent


@pytest.mark.parametrize("who", ["biller", "outsider"])
def test_non_agents_are_refused(client, request, who):
    client.force_login(request.getfixturevalue(who))
    p = f.patient()
    assert client.get(f"/api/v1/patients/{p.pk}/context/").status_code == 403
    assert (
        client.post("/api/v1/patients/search/", {"query": "x"}, "application/json").status_code
        == 403
    )
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()
