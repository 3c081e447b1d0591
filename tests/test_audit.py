"""config.audit's ACCESS entries read exactly like the ones auditlog's own helper writes."""

from __future__ import annotations

import pytest
from auditlog.context import set_actor

from config.audit import audit_access, audit_access_by_id
from config.models import AuditEntry as LogEntry
from patients.models import Patient
from tests import factories as f

pytestmark = pytest.mark.django_db

COMPARED = [
    "content_type_id",
    "object_pk",
    "object_id",
    "object_repr",
    "serialized_data",
    "additional_data",
    "action",
    "changes",
    "cid",
    "actor_id",
    "actor_email",
    "remote_addr",
    "remote_port",
]


def _row(entry: LogEntry) -> dict:
    return {name: getattr(entry, name) for name in COMPARED}


def test_an_access_entry_is_the_one_log_create_writes(agent):
    patient = f.patient()
    with set_actor(agent, remote_addr="10.1.2.3"):
        expected = LogEntry.objects.log_create(
            patient, force_log=True, action=LogEntry.Action.ACCESS, actor=agent
        )
        assert audit_access(actor=agent, instances=[patient]) == 1

    expected = LogEntry.objects.get(pk=expected.pk)
    written = LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exclude(pk=expected.pk).get()
    assert _row(written) == _row(expected)
    assert written.remote_addr == "10.1.2.3"


def test_many_accesses_are_one_entry_each(agent):
    patients = [f.patient() for _ in range(3)]

    audit_access(actor=agent, instances=patients)

    logged = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=agent)
    assert sorted(logged.values_list("object_id", flat=True)) == sorted(p.pk for p in patients)


def test_an_access_by_id_names_the_row_without_reading_it(agent):
    patient = f.patient()

    audit_access_by_id(
        actor=agent, model=Patient, pks=[patient.pk], additional_data={"via": "a test"}
    )

    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert entry.object_repr == f"Patient #{patient.pk}"
    assert entry.object_id == patient.pk and entry.actor == agent
    assert entry.additional_data == {"via": "a test"}
    assert patient.last_name not in entry.object_repr
