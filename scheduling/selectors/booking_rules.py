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
from ..rules.base import Candidate, Preferences, RuleContext, SlotFacts
from ..rules.registry import NETWORK_RULE_KEYS, Judgement, judge_all
from ..rules.snapshot import network_snapshot
from .absences import apply_absences


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
    end = slot.start + timedelta(minutes=appointment_type.duration_minutes)
    first_day = slot.location.local(slot.start).date()
    last_day = slot.location.local(end).date()
    # The patient's facts, the plan's network, the visit's absences and the network's
    # version in one round trip (PostgreSQL); the network's own facts come from the
    # snapshot the slot search keeps, rebuilt only when that version moved.
    rows = loading.search_rows(patient, today=today, network_on=today, days=(first_day, last_day))
    if rows.stamp is not None:
        snapshot = network_snapshot(on=today, stamp=rows.stamp)
        configs, names = snapshot.configs, snapshot.names
        visit = snapshot.types.get(appointment_type.pk) or loading.type_facts(appointment_type)
        location = snapshot.locations.get(slot.location_id)
        provider = snapshot.providers.get(slot.provider_id)
    else:
        # No version to trust (SQLite): read only this slot's location and provider.
        configs, names = loading.load_configs(), loading.load_names()
        visit = loading.type_facts(appointment_type)
        location = loading.location_facts(
            plan_id=None, on=today, location_ids=[slot.location_id]
        ).get(slot.location_id)
        provider = (
            loading.provider_facts(plan_id=None, on=today, provider_ids=[slot.provider_id])[0]
        ).get(slot.provider_id)
    if location is None or provider is None:
        return None
    if rows.coverage is not None:
        # Network facts are read without a plan; the patient's plan decides in_network.
        locations_in, providers_in = rows.network or (frozenset(), frozenset())
        location = dataclasses.replace(location, in_network=location.id in locations_in)
        provider = dataclasses.replace(provider, in_network=provider.id in providers_in)
    facts = loading.patient_facts(patient, today=today, configs=configs, rows=rows)
    if established_with is not None:
        facts = dataclasses.replace(
            facts, established_provider_ids=facts.established_provider_ids | {established_with}
        )
    ctx = RuleContext(
        patient=facts,
        appointment_type=visit,
        licensed_until=loading.licensed_until(visit, facts.state),
        now=now,
        prefs=Preferences(),
        names=names,
        configs=configs,
    )
    locations, providers = apply_absences(
        locations={location.id: location},
        providers={provider.id: provider},
        closed={k: v for k, v in rows.closures.items() if k == slot.location_id},
        off={k: v for k, v in rows.time_off.items() if k == slot.provider_id},
    )
    candidate = Candidate(
        location=locations[slot.location_id],
        provider=providers[slot.provider_id],
        slot=SlotFacts(id=slot.pk, start=slot.start, end=end),
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
