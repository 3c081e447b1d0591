"""Set-based domain writes (queryset ``update()``, which sends no signal) are audited."""

from __future__ import annotations

import pytest
from django.utils import timezone

from config.models import AuditEntry
from patients.models import PatientIdentifier
from patients.mpi import patient_merge, patient_unmerge
from scheduling.models import Appointment, Call
from scheduling.services.calls import call_attach_patient
from tests import factories as f
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def _moves(model, pk):
    return list(
        AuditEntry.objects.filter(
            content_type__model=model._meta.model_name,
            object_id=pk,
            action=AuditEntry.Action.UPDATE,
        )
        .order_by("id")
        .values_list("changes", flat=True)
    )


def test_a_merge_and_its_undo_log_every_row_they_move():
    visit = b.visit()
    merged, survivor = visit.patient, f.patient()
    mrn = PatientIdentifier.objects.create(patient=merged, system="DEN-EHR", value="M-1")

    merge = patient_merge(survivor=survivor, merged=merged)
    patient_unmerge(merge=merge)

    there = {"patient": [str(merged.pk), str(survivor.pk)]}
    back = {"patient": [str(survivor.pk), str(merged.pk)]}
    assert _moves(PatientIdentifier, mrn.pk) == [there, back]
    assert _moves(Appointment, visit.appointment.pk) == [there, back]
    assert _moves(type(visit.coverage), visit.coverage.pk) == [there, back]


def test_attaching_the_caller_to_a_call_is_logged(agent):
    patient = f.patient()
    call = Call.objects.create(agent=agent, caller_phone="3035550100", started_at=timezone.now())

    call_attach_patient(call=call, patient=patient, by=agent)

    assert _moves(Call, call.pk) == [{"patient": ["None", str(patient.pk)]}]


def test_a_batch_s_create_diffs_are_auditlog_s_own():
    from auditlog.diff import model_instance_diff

    from config.audit import CreateDiffs

    patient = f.patient(phone="3035550100", email="a@example.com")
    ident = PatientIdentifier.objects.create(patient=patient, system="DEN-EHR", value="M-7")
    visit = b.visit().appointment
    creates = CreateDiffs()

    for instance in (patient, ident, visit, f.patient(), visit):
        assert creates(instance) == model_instance_diff(None, instance)
