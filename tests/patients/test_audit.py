from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from config.models import AuditEntry as LogEntry
from patients.models import Patient
from tests import factories as f

pytestmark = pytest.mark.django_db


def entries(patient: Patient):
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Patient), object_pk=str(patient.pk)
    )


def test_creating_a_patient_writes_an_audit_entry():
    patient = f.patient()
    assert list(entries(patient).values_list("action", flat=True)) == [LogEntry.Action.CREATE]


def test_updating_a_patient_records_what_changed(client, admin_user):
    patient = f.patient(phone="3035550100")
    client.force_login(admin_user)

    patient.phone = "3035550199"
    patient.save()

    update = entries(patient).get(action=LogEntry.Action.UPDATE)
    assert update.changes_dict["phone"] == ["3035550100", "3035550199"]


def test_an_admin_edit_is_attributed_to_the_admin(client, admin_user):
    patient = f.patient()
    client.force_login(admin_user)
    url = f"/admin/patients/patient/{patient.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(
        {"first_name": "Jordan", "date_of_birth": "1985-04-12", "sex": "U", "status": "active"}
    )
    for prefix in ("identifiers", "coverages", "clinical_facts"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = client.post(url, data)
    assert response.status_code == 302, (
        getattr(response, "context", {}) and response.context["adminform"].form.errors
    )

    update = entries(patient).get(action=LogEntry.Action.UPDATE)
    assert update.actor == admin_user
    assert update.changes_dict["first_name"] == ["Jamie", "Jordan"]


def test_audit_entries_are_visible_in_admin(client, admin_user):
    f.patient()
    client.force_login(admin_user)
    assert client.get("/admin/config/auditentry/").status_code == 200


def test_opening_a_patient_in_admin_logs_an_access(client, admin_user):
    patient = f.patient()
    client.force_login(admin_user)

    assert client.get(f"/admin/patients/patient/{patient.pk}/change/").status_code == 200

    access = entries(patient).get(action=LogEntry.Action.ACCESS)
    assert access.actor == admin_user


def test_each_patient_has_an_audit_history_page(client, admin_user):
    patient = f.patient()
    patient.phone = "3035550123"
    patient.save()
    client.force_login(admin_user)

    page = client.get(f"/admin/patients/patient/{patient.pk}/auditlog/")

    assert page.status_code == 200
    assert "3035550123" in page.content.decode()
