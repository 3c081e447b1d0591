"""A single save's CREATE entry carries the diff auditlog's own ``model_instance_diff``
would have written (config.audit_creates computes it with ``CreateDiffs``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from auditlog import receivers
from auditlog.diff import model_instance_diff
from django.contrib.contenttypes.models import ContentType
from rest_framework.test import APIClient

from billing.models import EligibilityCheck, Encounter
from config import audit_creates
from config.models import AuditEntry
from integrations.models import ApiToken
from patients.models import Coverage
from scheduling.models import Appointment
from tests import factories as f

pytestmark = pytest.mark.django_db

START = (datetime.now(tz=UTC) + timedelta(days=5)).replace(
    hour=16, minute=0, second=0, microsecond=0
)


def _book_through_the_api(agent, slot, visit, patient):
    """Hold the slot and book it for the patient with the agent's bearer token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(agent)[1]}")
    held = client.post(
        "/api/v1/holds/", {"slot_id": slot.pk, "appointment_type_id": visit.pk}, format="json"
    )
    return client.post(
        "/api/v1/appointments/",
        {
            "hold_id": held.json()["id"],
            "patient_id": patient.pk,
            "appointment_type_id": visit.pk,
            "reason": "urgent",
        },
        format="json",
    )


def test_auditlog_s_receivers_diff_through_create_diffs():
    assert receivers.model_instance_diff is audit_creates.diff


def test_a_booking_s_create_entries_are_the_ones_auditlog_s_diff_writes(agent, monkeypatch):
    location = f.location()
    provider = f.provider(locations=[location])
    slot = f.slot(provider=provider, location=location, start=START)
    visit = f.appointment_type()
    patient = f.patient(email="jamie@example.com")
    plan = f.plan()
    f.in_network(plan=plan, location=location)
    f.in_network(plan=plan, provider=provider)
    # Never checked: the booking asks for an eligibility check, a third new row.
    Coverage.objects.create(
        patient=patient, plan=plan, member_id="M00000001", effective_from=date(2020, 1, 1)
    )
    diffs = []

    def both(old, new, fields_to_check=None, use_json_for_changes=False):
        ours = audit_creates.diff(old, new, fields_to_check, use_json_for_changes)
        theirs = model_instance_diff(
            old, new, fields_to_check=fields_to_check, use_json_for_changes=use_json_for_changes
        )
        diffs.append((new, ours, theirs))
        return ours

    monkeypatch.setattr(receivers, "model_instance_diff", both)
    booked = _book_through_the_api(agent, slot, visit, patient)

    assert booked.status_code == 201, booked.content
    assert {type(new) for new, _, _ in diffs} == {Appointment, Encounter, EligibilityCheck}
    for new, ours, theirs in diffs:
        # The same pairs, in the same order: the stored JSON is the same text.
        assert list(ours.items()) == list(theirs.items()), type(new).__name__
        entry = AuditEntry.objects.get(
            content_type=ContentType.objects.get_for_model(new),
            object_id=new.pk,
            action=AuditEntry.Action.CREATE,
        )
        assert entry.changes == {name: list(pair) for name, pair in theirs.items()}
    appointment = Appointment.objects.get(pk=booked.json()["id"])
    assert diffs[0][2]["patient"] == ("None", str(patient.pk))
    assert diffs[0][0].pk == appointment.pk


def test_updates_and_deletes_keep_auditlog_s_own_diff():
    patient = f.patient()
    before = type(patient).objects.get(pk=patient.pk)
    patient.last_name = "Roe"

    assert audit_creates.diff(before, patient, ["last_name"]) == model_instance_diff(
        before, patient, fields_to_check=["last_name"]
    )
    assert audit_creates.diff(patient, None) == model_instance_diff(patient, None)


def test_an_api_booking_s_entries_name_the_token_s_agent(agent):
    """A bearer token is checked by the API view, after the audit middleware has looked
    for a signed-in user and found none: the entries still name who booked."""
    location = f.location()
    provider = f.provider(locations=[location])
    slot = f.slot(provider=provider, location=location, start=START)
    visit = f.appointment_type()
    booked = _book_through_the_api(agent, slot, visit, f.patient())

    assert booked.status_code == 201, booked.content
    entry = AuditEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Appointment),
        object_id=booked.json()["id"],
        action=AuditEntry.Action.CREATE,
    )
    assert (entry.actor_id, entry.actor_username, entry.actor_role) == (
        agent.pk,
        agent.username,
        "agent",
    )
