"""Demo revenue cycle for ``seed_demo``: clearinghouses, rules, eligibility, claims in
every state, so ``make run`` shows booked -> documented -> claim -> 837P -> 835 -> posted.

The visits are documented the way the sandbox EHR documents them (the appointment
type's typical codes, signed shortly after the visit), a few with the mistakes the
scrubber exists for, so the biller's queue is not empty.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from config.audit import audit_creates
from integrations.models import Connector
from patients.models import Coverage
from scheduling.models import Appointment

from .documentation import EncounterDocumentation, ProcedureLine
from .eligibility import Throttle, eligibility_batch_run, eligibility_checks_send
from .models import Claim, EligibilityCheck, Encounter, Payer
from .rules import rules_install_defaults
from .services import encounter_document, encounter_number_for, primary_coverage
from .submission import claims_submit, clearinghouse_collect

DEMO_CLAIMS = 60


def _connectors() -> list[Connector]:
    out = []
    for payer in Payer.objects.all():
        connector, _ = Connector.objects.get_or_create(
            name=f"Sandbox clearinghouse: {payer.name}",
            defaults={
                "kind": Connector.Kind.SANDBOX,
                "role": Connector.Role.CLEARINGHOUSE,
                "payer": payer,
                "endpoint": str(Path(settings.VAR_DIR) / "sandbox_payer" / payer.payer_code),
                "message_types": ["270", "837P"],
            },
        )
        out.append(connector)
    return out


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
        )
    )


def seed(context: Any) -> str:
    rules = rules_install_defaults()
    connectors = _connectors()
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
    # The front of the round trip: each visit's coverage was checked when it was booked.
    checks = [
        EligibilityCheck.objects.create(
            coverage=cov, appointment=appt, requested_at=appt.created_at
        ).pk
        for appt in recent
        if (cov := primary_coverage(patient_id=appt.patient_id, on=appt.start.date()))
    ]
    eligibility_checks_send(check_ids=checks)
    mistakes = ["category", "pointer", "late", "undocumented"]
    for i, appt in enumerate(recent):
        _document(appt, mistakes[i // 2] if i < 2 * len(mistakes) else "")
    # Submit two thirds through the sandbox clearinghouses and pick up their 835s; the
    # rest stay ready for the next run, so every claim state is on screen.
    ready = list(Claim.objects.filter(status=Claim.Status.READY).values_list("pk", flat=True))
    submitted = claims_submit(claim_ids=ready[: len(ready) * 2 // 3])
    for connector in connectors:
        clearinghouse_collect(connector=connector)
    run = eligibility_batch_run(
        days=settings.ELIGIBILITY_BATCH_DAYS, throttle=Throttle(sleep=lambda _s: None)
    )
    sent = sum(b.claims for b in submitted.written)
    return (
        f"{len(connectors)} sandbox clearinghouses, {rules} pairing rules, "
        f"{encounters} encounters, {len(recent)} documented visits "
        f"({sent} claims through 837P/835), {run.checked} eligibility checks"
    )
