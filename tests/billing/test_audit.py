"""Bulk writes on PHI-bearing billing rows leave the same audit entries a save would."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from billing.models import Charge, Claim, Diagnosis, EligibilityCheck
from billing.services import encounter_document
from config.models import AuditEntry as LogEntry
from integrations.x12.inquiry import eligibility_batch_send, eligibility_checks_send
from integrations.x12.submission import claims_submit
from patients.models import Coverage
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def _entries(model, pk, action=LogEntry.Action.UPDATE):
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(model),
        object_id=pk,
        action=action,
    ).order_by("pk")


def test_a_batch_of_271_answers_leaves_an_audit_entry_per_check(tmp_path, biller):
    payer = b.payer()
    visits = [b.visit(the_payer=payer) for _ in range(3)]
    b.sandbox_for(payer, tmp_path)
    Coverage.objects.filter(pk__in=[v.coverage.pk for v in visits]).update(member_id="ACTIVE0042")
    ids = [
        EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now()).pk
        for v in visits
    ]

    with set_actor(biller, remote_addr="10.1.2.3"):
        result = eligibility_checks_send(check_ids=ids)

    assert result.answered == 3
    for check in EligibilityCheck.objects.filter(pk__in=ids):
        claimed, answered = _entries(EligibilityCheck, check.pk)
        assert claimed.changes["sent_at"][0] == "None"
        assert answered.changes["status"] == ["pending", "active"]
        assert answered.changes["message"] == ["None", str(check.message_id)]
        assert Decimal(answered.changes["copay"][1]) == check.copay
        assert answered.object_repr == f"EligibilityCheck #{check.pk}"
        assert answered.object_pk == str(check.pk)
        assert answered.actor == biller and answered.remote_addr == "10.1.2.3"


def test_a_rejected_271_check_is_audited_too(tmp_path):
    down = b.payer(code="SBXDOWN")
    v = b.visit(the_payer=down)
    b.sandbox_for(down, tmp_path)
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())

    eligibility_checks_send(check_ids=[check.pk])

    *_, answered = _entries(EligibilityCheck, check.pk)
    assert answered.changes["status"] == ["pending", "error"]
    assert '"code": "42"' in answered.changes["errors"][1]


def test_checks_created_by_the_nightly_batch_are_audited(tmp_path):
    v = b.visit(start=timezone.now() + timedelta(days=2))
    b.sandbox_for(v.payer, tmp_path)

    eligibility_batch_send(days=7)

    check = EligibilityCheck.objects.get(appointment=v.appointment)
    (created,) = _entries(EligibilityCheck, check.pk, LogEntry.Action.CREATE)
    assert created.changes["coverage"] == ["None", str(v.coverage.pk)]


def test_documented_lines_and_bulk_claim_moves_are_audited(tmp_path):
    v = b.visit()
    b.sandbox_for(v.payer, tmp_path)

    encounter = encounter_document(doc=b.documentation(v))
    diagnosis, charge = encounter.diagnoses.first(), encounter.charges.first()
    (dx_created,) = _entries(Diagnosis, diagnosis.pk, LogEntry.Action.CREATE)
    assert dx_created.changes["code"] == ["None", diagnosis.code]
    assert _entries(Charge, charge.pk, LogEntry.Action.CREATE).count() == 1
    claims_submit()
    claim = Claim.objects.get()
    moves = [e.changes["status"] for e in _entries(Claim, claim.pk) if "status" in e.changes]
    assert ["ready", "submitted"] in moves
    assert ["submitted", "accepted"] in moves  # the sandbox 277CA, applied in bulk
