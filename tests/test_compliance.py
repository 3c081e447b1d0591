"""The privacy officer's accounting of disclosures for one patient (45 CFR 164.528)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from auditlog.context import set_actor
from django.contrib.auth.models import User
from django.utils import timezone

from config.audit import audit_access
from config.compliance.csv import csv_cell
from config.models import AuditEntry
from patients.models import Coverage
from tests import factories as f

pytestmark = pytest.mark.django_db


def _history(agent):
    patient, other = f.patient(), f.patient()
    coverage = f.coverage(patient=patient)
    audit_access(actor=agent, instances=[patient, other])
    with set_actor(agent):
        coverage.member_id = "NEW123"
        coverage.save()
    return patient, other, coverage


def test_it_lists_who_viewed_and_changed_the_record(client, compliance_officer, agent):
    patient, other, coverage = _history(agent)
    client.force_login(compliance_officer)

    page = client.post("/compliance/", {"patient_id": patient.pk})

    assert page.status_code == 200
    rows = page.context["rows"]
    assert ("agent.test", "viewed", f"Patient #{patient.pk}") in {
        (r.who, r.action, r.record) for r in rows
    }
    change = next(r for r in rows if r.record == f"Coverage #{coverage.pk}" and r.who != "system")
    assert change.action == "changed" and change.fields == "member_id"
    assert all(r.record != f"Patient #{other.pk}" for r in rows)
    # The values stay in the log: the page names fields, not what they held.
    assert b"NEW123" not in page.content


def test_looking_at_the_accounting_is_itself_recorded(client, compliance_officer, agent):
    patient, _, _ = _history(agent)
    client.force_login(compliance_officer)

    client.post("/compliance/", {"patient_id": patient.pk})

    entry = AuditEntry.objects.filter(actor=compliance_officer).get()
    assert entry.object_id == patient.pk and entry.action == AuditEntry.Action.ACCESS
    assert entry.surface == "compliance:disclosures"


def test_it_filters_by_date(client, compliance_officer, agent):
    patient, _, _ = _history(agent)
    client.force_login(compliance_officer)
    tomorrow = (timezone.now() + timedelta(days=1)).date()

    page = client.post("/compliance/", {"patient_id": patient.pk, "since": tomorrow})

    assert page.context["total"] == 0


def test_it_exports_csv_with_formula_cells_neutralised(client, compliance_officer, agent):
    patient, _, _ = _history(agent)
    sneaky = User.objects.create_user(username="=HYPERLINK(1)", password="x" * 12)
    audit_access(actor=sneaky, instances=[patient])
    client.force_login(compliance_officer)

    response = client.post("/compliance/export/", {"patient_id": patient.pk})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    users = [row[1] for row in rows[1:]]
    assert "agent.test" in users and "'=HYPERLINK(1)" in users
    assert AuditEntry.objects.filter(
        actor=compliance_officer, surface="compliance.export", object_id=patient.pk
    ).exists()


def test_the_patient_never_travels_in_the_url(client, compliance_officer, agent):
    patient, _, _ = _history(agent)
    client.force_login(compliance_officer)

    page = client.get("/compliance/", {"patient_id": patient.pk})

    assert "rows" not in page.context
    assert b'method="post"' in page.content


def test_an_unknown_patient_is_a_form_error(client, compliance_officer):
    client.force_login(compliance_officer)

    page = client.post("/compliance/", {"patient_id": 999999})

    assert page.status_code == 400 and b"No patient has this id." in page.content


@pytest.mark.parametrize("who", ["agent", "biller", "outsider"])
def test_only_the_compliance_role_opens_it(client, request, who):
    client.force_login(request.getfixturevalue(who))

    assert client.get("/compliance/").status_code == 403
    assert client.post("/compliance/export/", {"patient_id": 1}).status_code == 403


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (None, ""),
    ],
)
def test_a_csv_cell_cannot_start_a_formula(raw, safe):
    assert csv_cell(raw) == safe


def test_coverage_changes_reach_the_patient_through_the_foreign_key(agent):
    from config.compliance.selectors import disclosures

    patient, _, _ = _history(agent)

    models = {e.content_type.model_class() for e in disclosures(patient_id=patient.pk)}
    assert Coverage in models
