"""Writes for clinical facts that arrive from the location EHRs, and the rules that decide
which of them routing enforces.

The integration layer reads FHIR AllergyIntolerance / Condition / Flag and HL7 AL1, IAM,
OBX and configured Z-segments into ``ClinicalFactRecord``; everything below is
wire-format free. Each EHR record is one row (``ClinicalFact.source_key``), so a re-sent
record updates it and a record marked resolved or entered in error stops applying.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet

from config.audit import audit_updates
from config.crypto.fields import blind_index_of

from .models import ClinicalFact, ClinicalNeedRule, Patient


@dataclass(frozen=True)
class ClinicalFactRecord:
    """One EHR record about a patient, as the source system states it."""

    source_system: str
    record_id: str  # the source's id for the record (FHIR id, IAM-7, or a derived key)
    kind: str  # ClinicalFact.Kind
    code: str
    code_system: str
    description: str
    status: str  # ClinicalFact.Status
    recorded_at: datetime
    origin_connector_id: int | None = None
    source_location_id: int | None = None


def _source_key(record: ClinicalFactRecord) -> str:
    return ClinicalFact.source_key_of(record.source_system, record.record_id)


def clinical_need_rule_for(*, code: str, code_system: str) -> ClinicalNeedRule | None:
    """The active rule for a code: one naming this code system first, then any system."""
    if not code:
        return None
    rules = ClinicalNeedRule.objects.filter(active=True, code=code).filter(
        Q(code_system=code_system) | Q(code_system="")
    )
    return min(rules, key=lambda r: r.code_system == "", default=None)


def clinical_fact_record(*, patient: Patient, record: ClinicalFactRecord) -> ClinicalFact | None:
    """Create or update the fact for one EHR record; returns it, or None when the record is
    older than what the hub already holds (an out-of-order resend changes nothing).

    The row is locked while it is compared and written, so two workers applying two
    versions of one record keep the newer.
    """
    key = _source_key(record)
    rule = clinical_need_rule_for(code=record.code, code_system=record.code_system)
    applies = record.status == ClinicalFact.Status.ACTIVE
    values = {
        "kind": record.kind,
        "code": record.code[:40],
        "code_system": record.code_system[:200],
        "description": (record.description or record.code or "(not described)")[:200],
        "status": record.status,
        "active": applies,
        "need_rule": rule,
        "requires_equipment_id": rule.requires_equipment_id if rule else None,
        "source_system": record.source_system[:60],
        "source_location_id": record.source_location_id,
        "origin_connector_id": record.origin_connector_id,
        "recorded_at": record.recorded_at,
    }
    with transaction.atomic():
        fact = (
            ClinicalFact.objects.select_for_update().filter(patient=patient, source_key=key).first()
        )
        if fact is None:
            return ClinicalFact.objects.create(patient=patient, source_key=key, **values)
        if fact.recorded_at > record.recorded_at:
            return None
        changed = [name for name, value in values.items() if getattr(fact, name) != value]
        if changed:
            for name in changed:
                setattr(fact, name, values[name])
            fact.save(update_fields=changed)
        return fact


def clinical_fact_withdraw(
    *, patient: Patient, source_system: str, record_id: str, status: str, recorded_at: datetime
) -> ClinicalFact | None:
    """Mark a known record resolved or entered in error without restating it (HL7 IAM
    delete, OBX-11 W). Unknown records are left alone: there is nothing to stop."""
    probe = ClinicalFactRecord(
        source_system=source_system,
        record_id=record_id,
        kind="",
        code="",
        code_system="",
        description="",
        status=status,
        recorded_at=recorded_at,
    )
    with transaction.atomic():
        fact = (
            ClinicalFact.objects.select_for_update()
            .filter(patient=patient, source_key=_source_key(probe))
            .first()
        )
        if fact is None or fact.recorded_at > recorded_at:
            return None
        fact.status, fact.active, fact.recorded_at = status, False, recorded_at
        fact.save(update_fields=["status", "active", "recorded_at"])
        return fact


def _relink(facts: QuerySet[ClinicalFact], rule: ClinicalNeedRule | None) -> int:
    """Point ``facts`` at ``rule`` (or at none), with one audit entry per fact changed:
    a queryset update is invisible to auditlog."""
    new = (rule.pk, rule.requires_equipment_id) if rule else (None, None)
    rows = list(facts.values_list("pk", "need_rule_id", "requires_equipment_id"))
    changed = [row for row in rows if (row[1], row[2]) != new]
    ClinicalFact.objects.filter(pk__in=[row[0] for row in changed]).update(
        need_rule_id=new[0], requires_equipment_id=new[1]
    )
    audit_updates(
        ClinicalFact,
        (
            (pk, "", {"need_rule": (old_rule, new[0]), "requires_equipment": (old_eq, new[1])})
            for pk, old_rule, old_eq in changed
        ),
    )
    return len(rows)


@transaction.atomic
def clinical_need_rule_apply(*, rule: ClinicalNeedRule) -> int:
    """Point every fact carrying the rule's code at it (and unlink those it no longer
    covers), so a rule added or changed in admin applies to facts already on file.
    Returns how many facts follow the rule."""
    if not rule.active:
        _relink(ClinicalFact.objects.filter(need_rule=rule), None)
        return 0
    matches = ClinicalFact.objects.filter(
        code_bidx=blind_index_of(ClinicalFact, "code_bidx", rule.code)
    )
    if rule.code_system:
        matches = matches.filter(code_system=rule.code_system)
    else:
        # A rule for any system yields to a rule naming the fact's own system.
        specific = ClinicalNeedRule.objects.filter(active=True, code=rule.code).exclude(
            code_system=""
        )
        matches = matches.exclude(code_system__in=specific.values("code_system"))
    _relink(ClinicalFact.objects.filter(need_rule=rule).exclude(pk__in=matches), None)
    return _relink(matches, rule)


@transaction.atomic
def clinical_need_rule_remove(*, rule: ClinicalNeedRule) -> None:
    """Delete a rule; the facts it covered stay on file, no longer enforced."""
    _relink(ClinicalFact.objects.filter(need_rule=rule), None)
    rule.delete()
