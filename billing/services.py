"""Writes for the revenue cycle: encounters, claims. Every function is keyword-only and atomic.

Eligibility, scrubbing, submission and remittance posting live in their own modules
(``eligibility.py`` and ``eligibility_batch.py``, ``scrubber/``, ``submission.py``,
``remittance.py``); their X12 side (270/271, 837P, 999/277CA, 835) is in
``integrations/x12/``, which calls them with ``billing.types`` dataclasses.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.audit import audit_creates, audit_updates
from patients.models import Patient
from scheduling.models import Appointment, Location, Provider

from .documentation import (
    EncounterDocumentation,
    ProcedureLine,
    normalize_icd10,
    resolve_pointers,
)
from .models import (
    Charge,
    Claim,
    ClaimStatusHistory,
    ControlNumber,
    Diagnosis,
    DocumentationAttestation,
    Encounter,
    FeeSchedule,
)
from .selectors import primary_coverage

ERR_DOC_NO_TARGET = (
    "The documentation names no appointment or encounter number, and not enough to open "
    "an encounter (patient, provider NPI, location, date of service)."
)
ERR_DOC_UNKNOWN_APPOINTMENT = "The documentation names an appointment the hub does not know."
ERR_DOC_UNKNOWN_ENCOUNTER = "The documentation names an encounter number the hub does not know."
ERR_DOC_MISMATCH = "The appointment and the encounter number in the documentation disagree."
ERR_DOC_NAIVE_TIME = "The documentation timestamp has no time zone."
ERR_DOC_NO_DIAGNOSES = "The documentation carries no diagnosis."
ERR_DOC_TOO_MANY_DIAGNOSES = "An 837P claim carries at most 12 diagnoses."
ERR_DOC_NO_PROCEDURES = "The documentation carries no procedure."
ERR_DOC_BAD_UNITS = "A procedure line has fewer than one unit."
ERR_DOC_ALREADY_SUBMITTED = (
    "This encounter's claim has already been submitted; amended documentation needs a "
    "corrected claim from a biller."
)
ERR_DOC_VOID = "This encounter is void (the appointment was cancelled)."
ERR_DOC_UNKNOWN_PROVIDER = "The documentation names a provider NPI the hub does not know."


class DocumentationError(ValueError):
    """Documentation that cannot become a claim; the message is one of the ERR_DOC_* constants."""


# Claim statuses in which the claim has not left the building: documentation may still
# replace its lines.
EDITABLE_CLAIM_STATUSES = (Claim.Status.DRAFT, Claim.Status.HELD, Claim.Status.READY)


def encounter_number_for(appointment_id: int) -> str:
    # Deterministic from the appointment so every system that saw the appointment can
    # derive it, and short enough for PV1-19 and CLM01.
    return f"E{appointment_id:09d}"


def _local_date(moment: datetime, location: Location) -> date:
    return location.local(moment).date()


def encounter_open(*, appointment: Appointment, new: bool = False) -> Encounter:
    """The encounter id the PMS generates at scheduling: one per appointment, idempotent.

    ``new``: the appointment was created in this transaction, so no encounter can point
    at it yet and the read is skipped (the unique appointment still decides a race)."""
    existing = None if new else Encounter.objects.filter(appointment=appointment).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Encounter.objects.create(
                encounter_number=encounter_number_for(appointment.pk),
                appointment=appointment,
                patient_id=appointment.patient_id,
                provider_id=appointment.provider_id,
                location_id=appointment.location_id,
                date_of_service=_local_date(appointment.start, appointment.location),
                created_at=timezone.now(),
            )
    except IntegrityError:
        # A concurrent receiver (booking signal and documentation racing) made it first.
        return Encounter.objects.get(appointment=appointment)


def encounters_open_batch(*, appointments: Sequence[Appointment]) -> list[Encounter]:
    """``encounter_open`` for a batch of new bookings: one read, one INSERT, bulk audit."""
    have = set(
        Encounter.objects.filter(appointment_id__in=[a.pk for a in appointments]).values_list(
            "appointment_id", flat=True
        )
    )
    locations = Location.objects.in_bulk({a.location_id for a in appointments})
    now = timezone.now()
    new = []
    for appointment in appointments:
        if appointment.pk in have:
            continue
        have.add(appointment.pk)
        new.append(
            Encounter(
                encounter_number=encounter_number_for(appointment.pk),
                appointment=appointment,
                patient_id=appointment.patient_id,
                provider_id=appointment.provider_id,
                location_id=appointment.location_id,
                date_of_service=_local_date(appointment.start, locations[appointment.location_id]),
                created_at=now,
            )
        )
    Encounter.objects.bulk_create(new)
    audit_creates(new)
    return new


def encounters_void_batch(*, appointment_ids: Collection[int]) -> int:
    """``encounter_void`` for a batch of ended appointments: one read, one UPDATE, bulk
    audit. Returns how many were voided."""
    encounters = list(
        Encounter.objects.filter(
            appointment_id__in=appointment_ids, status=Encounter.Status.OPEN
        ).only("pk", "encounter_number")
    )
    if not encounters:
        return 0
    Encounter.objects.filter(pk__in=[e.pk for e in encounters]).update(status=Encounter.Status.VOID)
    audit_updates(
        Encounter,
        (
            (e.pk, str(e), {"status": (Encounter.Status.OPEN, Encounter.Status.VOID)})
            for e in encounters
        ),
    )
    return len(encounters)


def encounter_void(*, appointment: Appointment) -> None:
    """A cancelled appointment's encounter will never be documented."""
    encounter = Encounter.objects.filter(
        appointment=appointment, status=Encounter.Status.OPEN
    ).first()
    if encounter is not None:
        encounter.status = Encounter.Status.VOID
        encounter.save(update_fields=["status"])  # audited by auditlog's signal


def _resolve_encounter(doc: EncounterDocumentation) -> Encounter:
    encounter: Encounter | None = None
    if doc.encounter_number:
        encounter = (
            Encounter.objects.select_for_update()
            .filter(encounter_number=doc.encounter_number)
            .first()
        )
    if doc.appointment_id is not None:
        appointment = (
            Appointment.objects.select_related("location").filter(pk=doc.appointment_id).first()
        )
        if appointment is None:
            raise DocumentationError(ERR_DOC_UNKNOWN_APPOINTMENT)
        if encounter is not None and encounter.appointment_id not in (None, appointment.pk):
            raise DocumentationError(ERR_DOC_MISMATCH)
        if encounter is None:
            encounter_open(appointment=appointment)
            encounter = Encounter.objects.select_for_update().get(appointment=appointment)
        return encounter
    if encounter is not None:
        return encounter
    if (
        doc.patient_id is None
        or not doc.provider_npi
        or doc.location_id is None
        or doc.date_of_service is None
    ):
        if doc.encounter_number:
            raise DocumentationError(ERR_DOC_UNKNOWN_ENCOUNTER)
        raise DocumentationError(ERR_DOC_NO_TARGET)
    provider = Provider.objects.filter(npi=doc.provider_npi).first()
    if provider is None:
        raise DocumentationError(ERR_DOC_UNKNOWN_PROVIDER)
    patient = Patient.objects.get(pk=doc.patient_id)
    location = Location.objects.get(pk=doc.location_id)
    number = doc.encounter_number or f"W{doc.documented_at:%y%m%d}{patient.pk:08d}"
    encounter, _ = Encounter.objects.get_or_create(
        encounter_number=number,
        defaults={
            "patient": patient,
            "provider": provider,
            "location": location,
            "date_of_service": doc.date_of_service,
            "created_at": timezone.now(),
        },
    )
    return encounter


def _validate(doc: EncounterDocumentation) -> None:
    if timezone.is_naive(doc.documented_at):
        raise DocumentationError(ERR_DOC_NAIVE_TIME)
    if not doc.diagnoses:
        raise DocumentationError(ERR_DOC_NO_DIAGNOSES)
    if len(doc.diagnoses) > 12:
        raise DocumentationError(ERR_DOC_TOO_MANY_DIAGNOSES)
    if not doc.procedures:
        raise DocumentationError(ERR_DOC_NO_PROCEDURES)
    if any(line.units < 1 for line in doc.procedures):
        raise DocumentationError(ERR_DOC_BAD_UNITS)


def _price(payer_id: int | None, line: ProcedureLine) -> Decimal:
    if payer_id is None:
        return Decimal("0.00")
    fee = (
        FeeSchedule.objects.filter(payer_id=payer_id, procedure_code=line.code.strip().upper())
        .values_list("amount", flat=True)
        .first()
    )
    # An unpriced code becomes a zero line; the scrubber holds the claim for a biller
    # rather than letting documentation fail at the EHR.
    return (fee or Decimal("0.00")) * line.units


def claim_status_set(*, claim: Claim, status: str, note: str = "") -> None:
    """Change a claim's status and record it in its history (caller holds the row)."""
    claim.status = status
    claim.save(update_fields=["status"])
    ClaimStatusHistory.objects.create(
        claim=claim, status=status, note=note[:200], at=timezone.now()
    )


@transaction.atomic
def encounter_document(*, doc: EncounterDocumentation) -> Encounter:
    """Turn an EHR's documentation into diagnoses, priced charges and a claim.

    Idempotent: documentation identical to what the encounter already holds changes
    nothing. Different documentation (an amended note) replaces the codes while the claim
    has not been submitted, and is refused afterwards. Raises ``DocumentationError``.
    """
    _validate(doc)
    encounter = _resolve_encounter(doc)
    if encounter.status == Encounter.Status.VOID:
        raise DocumentationError(ERR_DOC_VOID)
    fingerprint = doc.fingerprint()
    if encounter.documentation_hash == fingerprint:
        return encounter
    claim = encounter.claims.select_for_update().order_by("-created_at").first()
    if claim is not None and claim.status not in EDITABLE_CLAIM_STATUSES:
        raise DocumentationError(ERR_DOC_ALREADY_SUBMITTED)

    encounter.documented_at = doc.documented_at
    encounter.ehr_documented_at = doc.documented_at if doc.ehr_signed else None
    encounter.documentation_ref = doc.documentation_ref[:80]
    encounter.documentation_source = doc.source_system[:60]
    encounter.documentation_hash = fingerprint
    encounter.status = Encounter.Status.DOCUMENTED
    encounter.diagnoses.all().delete()
    encounter.charges.all().delete()
    diagnoses, pointers = resolve_pointers(doc)
    if len(diagnoses) > 12:
        raise DocumentationError(ERR_DOC_TOO_MANY_DIAGNOSES)
    audit_creates(
        Diagnosis.objects.bulk_create(
            Diagnosis(encounter=encounter, sequence=i, code=code)
            for i, code in enumerate(diagnoses, start=1)
        )
    )
    coverage = (
        claim.coverage
        if claim is not None
        else primary_coverage(patient_id=encounter.patient_id, on=encounter.date_of_service)
    )
    payer_id = coverage.plan.payer_id if coverage is not None else None
    charges = [
        Charge(
            encounter=encounter,
            line_number=i,
            procedure_code=line.code.strip().upper(),
            modifiers=[m.strip().upper() for m in line.modifiers][:4],
            units=line.units,
            amount=_price(payer_id, line),
            diagnosis_pointers=list(line_pointers),
            service_date=line.service_date or encounter.date_of_service,
        )
        for i, (line, line_pointers) in enumerate(
            zip(doc.procedures, pointers, strict=True), start=1
        )
    ]
    audit_creates(Charge.objects.bulk_create(charges))
    total = sum((c.amount for c in charges), Decimal("0.00"))

    if coverage is None:
        # Self-pay: nothing to bill a payer; the encounter stays documented.
        encounter.save()
        return encounter
    encounter.status = Encounter.Status.BILLED
    encounter.save()
    if claim is None:
        claim = Claim.objects.create(
            claim_number=f"{encounter.encounter_number}-1",
            encounter=encounter,
            coverage=coverage,
            payer_id=coverage.plan.payer_id,
            total_charge=total,
            created_at=timezone.now(),
        )
        ClaimStatusHistory.objects.create(
            claim=claim,
            status=Claim.Status.DRAFT,
            note=f"Built from documentation by {doc.source_system}"[:200],
            at=timezone.now(),
        )
    else:
        claim.total_charge = total
        claim.save(update_fields=["total_charge"])
        claim_status_set(claim=claim, status=Claim.Status.DRAFT, note="Documentation amended")
    _scrub_on_document(claim)
    return encounter


def _scrub_on_document(claim: Claim) -> None:
    # Scrubbing right away puts a stopped claim in the biller's queue while the visit is
    # fresh; submit_claims re-scrubs before anything goes out.
    from .scrubber import claim_scrub

    claim_scrub(claim=claim)


def control_number_next(*, name: str = "x12_interchange") -> int:
    """Next value of a counter, unique and increasing even with concurrent writers.

    The counter row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE
    transactions serialize writers) until the caller's transaction ends, so two batches
    can never draw the same ISA13.
    """
    with transaction.atomic():
        ControlNumber.objects.get_or_create(name=name)
        counter = ControlNumber.objects.select_for_update().get(name=name)
        counter.last_value += 1
        if counter.last_value > 999_999_999:  # ISA13 is nine digits
            counter.last_value = 1
        counter.save(update_fields=["last_value"])
        return counter.last_value


# ---------------------------------------------------------------------------
# The biller's fixes
# ---------------------------------------------------------------------------
ERR_NOT_EDITABLE = "This claim has left the building; it can no longer be edited."
ERR_NOT_RESUBMITTABLE = "Only held, ready, rejected or denied claims can be resubmitted."


@dataclass(frozen=True)
class ChargeFix:
    line_number: int
    procedure_code: str
    modifiers: tuple[str, ...]
    units: int
    diagnosis_pointers: tuple[int, ...]
    service_date: date


@transaction.atomic
def claim_fix(
    *,
    claim: Claim,
    diagnoses: Sequence[str],
    lines: Sequence[ChargeFix],
    documentation_ref: str,
    note: str = "",
) -> Claim:
    """A biller's correction of codes, pointers, dates or the documentation reference.

    Re-prices changed lines from the fee schedule; the claim goes back to DRAFT and is
    scrubbed again. Every row change is in the audit log (Diagnosis, Charge, Claim).
    """
    claim = Claim.objects.select_for_update().get(pk=claim.pk)
    if claim.status not in (*EDITABLE_CLAIM_STATUSES, Claim.Status.REJECTED, Claim.Status.DENIED):
        raise DocumentationError(ERR_NOT_EDITABLE)
    enc = claim.encounter
    codes = [normalize_icd10(c) for c in diagnoses if c.strip()]
    if not codes:
        raise DocumentationError(ERR_DOC_NO_DIAGNOSES)
    if len(codes) > 12:
        raise DocumentationError(ERR_DOC_TOO_MANY_DIAGNOSES)
    existing = {d.sequence: d for d in enc.diagnoses.all()}
    for seq, code in enumerate(codes, start=1):
        if seq in existing:
            if existing[seq].code != code:
                existing[seq].code = code
                existing[seq].save(update_fields=["code"])
        else:
            Diagnosis.objects.create(encounter=enc, sequence=seq, code=code)
    for seq in set(existing) - set(range(1, len(codes) + 1)):
        existing[seq].delete()
    charges = {c.line_number: c for c in enc.charges.all()}
    for fix in lines:
        charge = charges.get(fix.line_number)
        if charge is None:
            continue
        code = fix.procedure_code.strip().upper()
        if fix.units < 1:
            raise DocumentationError(ERR_DOC_BAD_UNITS)
        if code != charge.procedure_code or fix.units != charge.units:
            charge.amount = _price(claim.payer_id, ProcedureLine(code=code, units=fix.units))
        charge.procedure_code = code
        charge.modifiers = [m.strip().upper() for m in fix.modifiers if m.strip()][:4]
        charge.units = fix.units
        charge.diagnosis_pointers = list(fix.diagnosis_pointers)
        charge.service_date = fix.service_date
        charge.save()
    enc.documentation_ref = documentation_ref.strip()[:80]
    enc.save(update_fields=["documentation_ref"])
    claim.total_charge = sum((c.amount for c in enc.charges.all()), Decimal("0.00"))
    claim.save(update_fields=["total_charge"])
    claim_status_set(claim=claim, status=Claim.Status.DRAFT, note=note or "Corrected by a biller")
    return claim


@transaction.atomic
def claim_resubmit(*, claim: Claim, note: str = "") -> Claim:
    """Back into the pipeline: scrubbed now, batched by the next submission run."""
    claim = Claim.objects.select_for_update().get(pk=claim.pk)
    if claim.status not in (
        Claim.Status.DRAFT,
        Claim.Status.HELD,
        Claim.Status.READY,
        Claim.Status.REJECTED,
        Claim.Status.DENIED,
    ):
        raise DocumentationError(ERR_NOT_RESUBMITTABLE)
    if claim.status == Claim.Status.DENIED and claim.payer_claim_number:
        # The payer adjudicated it: sending the same claim again would be a duplicate;
        # a replacement (CLM05-3 = 7, REF*F8) asks it to adjudicate the corrected one.
        claim.frequency_code = "7"
        claim.save(update_fields=["frequency_code"])
    if claim.status != Claim.Status.DRAFT:
        claim_status_set(claim=claim, status=Claim.Status.DRAFT, note=note or "Resubmitted")
    _scrub_on_document(claim)
    claim.refresh_from_db()
    return claim


ERR_ATTEST_REASON = (
    "Say where the documentation is and why the EHR did not send it (at least 15 characters)."
)


@transaction.atomic
def claim_documentation_attest(*, claim: Claim, by: Any, reason: str) -> DocumentationAttestation:
    """A biller attests that the visit is documented in the chart although the EHR did
    not sign a note through the hub; the high-dollar rule then accepts the claim, which
    is scrubbed again. Audited with the biller and the reason (``config.audit``)."""
    reason = " ".join(reason.split())
    if len(reason) < 15:
        raise DocumentationError(ERR_ATTEST_REASON)
    claim = Claim.objects.select_for_update().get(pk=claim.pk)
    if claim.status not in (*EDITABLE_CLAIM_STATUSES, Claim.Status.REJECTED, Claim.Status.DENIED):
        raise DocumentationError(ERR_NOT_EDITABLE)
    attestation = DocumentationAttestation.objects.create(
        claim=claim, attested_by=by, attested_at=timezone.now(), reason=reason[:300]
    )
    audit_creates([attestation])
    claim_resubmit(claim=claim, note=f"Documentation attested: {reason}"[:200])
    return attestation
