"""Every hard and soft rule for one patient, one visit type and one concrete slot.

Booking re-checks a slot with this before it writes, and the waitlist matches ask it
before offering a freed slot to a waiting patient, so both apply exactly the rules the
slot finder applies.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from patients.models import Patient

from ..models import AppointmentType, Slot
from ..rules import loading
from ..rules.base import Candidate, RuleContext, SlotFacts
from ..rules.registry import NETWORK_RULE_KEYS, Judgement, judge_all
from .absences import with_absences


def slot_judgement(
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    slot: Slot,
    now: datetime,
    established_with: int | None = None,
) -> tuple[RuleContext, Judgement] | None:
    """The rule context and the verdict of every enabled rule for booking ``slot``.

    None when the slot's location or provider is no longer active. ``established_with``:
    a provider the patient counts as established with regardless of history (a
    reschedule keeps the relationship the moved booking created).
    """
    today = slot.location.local(now).date()
    ctx = loading.rule_context(
        patient=patient, appointment_type=appointment_type, now=now, today=today
    )
    if established_with is not None:
        ctx = dataclasses.replace(
            ctx,
            patient=dataclasses.replace(
                ctx.patient,
                established_provider_ids=ctx.patient.established_provider_ids | {established_with},
            ),
        )
    locations = loading.location_facts(
        plan_id=ctx.patient.plan_id, on=today, location_ids=[slot.location_id]
    )
    providers, _ = loading.provider_facts(
        plan_id=ctx.patient.plan_id, on=today, provider_ids=[slot.provider_id]
    )
    if slot.location_id not in locations or slot.provider_id not in providers:
        return None
    end = slot.start + timedelta(minutes=appointment_type.duration_minutes)
    locations, providers = with_absences(
        locations=locations,
        providers=providers,
        location_ids=[slot.location_id],
        provider_ids=[slot.provider_id],
        first_day=slot.location.local(slot.start).date(),
        last_day=slot.location.local(end).date(),
    )
    candidate = Candidate(
        location=locations[slot.location_id],
        provider=providers[slot.provider_id],
        slot=SlotFacts(
            id=slot.pk,
            start=slot.start,
            end=end,
        ),
    )
    return ctx, judge_all(ctx, candidate)


def slot_network_reasons(
    *, patient: Patient, appointment_type: AppointmentType, slot: Slot, now: datetime
) -> list[str]:
    """Why booking ``slot`` would be out of network for the patient's plan (empty when it
    is in network or the patient has no plan): what an override reason must cover."""
    judged = slot_judgement(patient=patient, appointment_type=appointment_type, slot=slot, now=now)
    if judged is None:
        return []
    return [e.reason for e in judged[1].exclusions if e.rule in NETWORK_RULE_KEYS]
