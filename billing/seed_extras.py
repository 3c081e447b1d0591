"""Demo revenue cycle for ``seed_demo``: rules, encounters, eligibility checks and
documented visits whose claims the clearinghouse side's seed (``integrations``, which
runs next) sends as 837P and posts 835s for, so ``make run`` shows booked -> documented
-> claim -> 837P -> 835 -> posted.

The visits are documented the way the sandbox EHR documents them (the appointment
type's typical codes, signed shortly after the visit), a few with the mistakes the
scrubber exists for, so the biller's queue is not empty.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from config.audit import audit_creates
from patients.models import Coverage
from scheduling.models import Appointment

from .documentation import EncounterDocumentation, ProcedureLine
from .models import EligibilityCheck, Encounter
from .rules import rules_install_defaults
from .selectors import primary_coverage
from .services import encounter_document, encounter_number_for

DEMO_CLAIMS = 60


def _open_upcoming_encounters() -> int:
    """Seeded bookings bypass the booking service, so open their encounters here."""
    have = set(Encounter.objects.values_list("appointment_id", flat=True))
    rows = Appointment.objects.filter(
        status=Appointment.Status.BOOKED, start__gte=timezone.now()
    ).select_related("location")
    now = timezone.now()
    new = [
        Encounter(
            encounter_number=encounter_number_for(a.pk),
            appointment=a,
            patient_id=a.patient_id,
            provider_id=a.provider_id,
            location_id=a.location_id,
            date_of_service=a.location.local(a.start).date(),
            created_at=now,
        )
        for a in rows
        if a.pk not in have
    ]
    audit_creates(Encounter.objects.bulk_create(new, batch_size=2000))
    return len(new)


def _document(appt: Appointment, mistake: str) -> None:
    codes = list(appt.appointment_type.typical_procedure_codes) or ["D0140"]
    dx = list(appt.appointment_type.typical_diagnosis_codes) or ["K0889"]
    lines = [ProcedureLine(code=c, diagnosis_pointers=(1,)) for c in codes]
    ref = f"NOTE-{appt.pk}"
    signed = appt.end + timedelta(minutes=25)
    if mistake == "category":
        dx = [dx[0][:3]]  # "K02" instead of "K0252": a category, not billable
    elif mistake == "pointer":
        lines[0] = ProcedureLine(code=codes[0], diagnosis_pointers=())
    elif mistake == "late":
        signed = appt.end + timedelta(days=9)
    elif mistake == "undocumented":
        lines = [ProcedureLine(code="D2740", diagnosis_pointers=(1,))]
        dx = ["K0253"]
        ref = ""
    encounter_document(
        doc=EncounterDocumentation(
            source_system=f"{appt.location.code.upper()}-EHR",
            documented_at=signed,
            diagnoses=tuple(dx),
            procedures=tuple(lines),
            appointment_id=appt.pk,
            documentation_ref=ref,
            ehr_signed=bool(ref),
        )
    )


def seed(context: Any) -> str:
    rules = rules_install_defaults()
    encounters = _open_upcoming_encounters()

    insured = set(
        Coverage.objects.filter(active=True, priority=1).values_list("patient_id", flat=True)
    )
    recent = [
        a
        for a in Appointment.objects.filter(
            status=Appointment.Status.COMPLETED,
            start__gte=timezone.now() - timedelta(days=21),
            start__lt=timezone.now() - timedelta(days=1),
        )
        .select_related("appointment_type", "location")
        .order_by("start")[:400]
        if a.patient_id in insured
    ][:DEMO_CLAIMS]
    # The front of the round trip: each visit's coverage was checked when it was booked
    # (pending here; the clearinghouse side's seed sends the 270s).
    checks = [
        EligibilityCheck.objects.create(
            coverage=cov, appointment=appt, requested_at=appt.created_at
        ).pk
        for appt in recent
        if (cov := primary_coverage(patient_id=appt.patient_id, on=appt.start.date()))
    ]
    mistakes = ["category", "pointer", "late", "undocumented"]
    for i, appt in enumerate(recent):
        _document(appt, mistakes[i // 2] if i < 2 * len(mistakes) else "")
    return (
        f"{rules} pairing rules, {encounters} encounters, {len(recent)} documented visits, "
        f"{len(checks)} eligibility checks to send"
    )
