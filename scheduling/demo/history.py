"""Six months of past appointments and calls (upcoming.py books the weeks ahead).

The KPI pages read this history, so its shape is realistic: most visits completed, some
no-shows, cancellations with reasons (a few for the wrong location), reschedules, agent
calls with handle times, and a share of callbacks that break first-call resolution.
"""

from __future__ import annotations

import random
import zoneinfo
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth.models import User

from patients.models import Patient
from scheduling.models import (
    Appointment,
    AppointmentType,
    BookReason,
    Call,
)

from .network import Network

UNIT = timedelta(minutes=30)
HOLD_LENGTH = timedelta(minutes=3)
DAY_UNITS = [u for u in range(18) if u not in (8, 9)]  # 08:00-17:00, lunch 12-13
STATUS_WEIGHTS = [("completed", 80), ("no_show", 6), ("cancelled", 10), ("rescheduled", 4)]
CANCEL_WEIGHTS = [
    ("patient_request", 50),
    ("patient_ill", 20),
    ("provider_unavailable", 10),
    ("insurance", 6),
    ("wrong_location", 8),
    ("wrong_provider", 4),
    ("weather", 2),
]
VISITS_PER_HALF_YEAR = [0, 1, 1, 2, 2, 2, 3, 4]
CHANNEL_WEIGHTS = [("agent", 74), ("location", 14), ("api", 6), ("self", 6)]
# Upcoming bookings were made over the weeks before the seed ran, at a steady rate, so the
# KPI pages' booking volume compares like with like (both default 30-day periods fall in it).
BOOKING_WINDOW_DAYS = 60
# Most visits are booked days to weeks ahead; recall visits are booked at the previous visit,
# up to about six months ahead, which lets even the far end of the horizon spread evenly.
MAX_LEAD_DAYS = 183
CALL_OUTCOME_EXTRA = [
    ("info_only", 45),
    ("callback", 20),
    ("transferred", 15),
    ("cancelled", 12),
    ("rescheduled", 8),
]


def _weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


class _Feasible:
    """Which (provider, weekday) can do each visit type, with the location that day."""

    def __init__(self, net: Network) -> None:
        self.net = net
        loc_by_id = {loc.pk: loc for loc in net.locations}
        self.by_region_type: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
        for provider in net.providers:
            served = net.provider_locations[provider.pk]
            for weekday in range(5):
                loc_id = served[weekday % len(served)]
                loc = loc_by_id[loc_id]
                for appt_type in net.appointment_types:
                    if (
                        net.type_caps[appt_type.pk] <= net.provider_caps[provider.pk]
                        and net.type_equipment[appt_type.pk] <= net.location_equipment[loc_id]
                    ):
                        self.by_region_type[(loc.region_id, appt_type.pk)].append(
                            (provider.pk, weekday, loc_id)
                        )
        self.providers = {p.pk: p for p in net.providers}
        self.locations = loc_by_id


def _fits(appt_type: AppointmentType, *, age: int, established: bool) -> bool:
    """Whether the visit type suits the patient: their age, and new vs established status.

    A "new patients only" type (New patient exam) is never drawn for a patient the group has
    already seen, an "existing patients only" type never for one it has not.
    """
    if appt_type not in _types_for_age([appt_type], age):
        return False
    if appt_type.patient_status == AppointmentType.PatientStatus.NEW:
        return not established
    if appt_type.patient_status == AppointmentType.PatientStatus.EXISTING:
        return established
    return True


def _types_for_age(types: list[AppointmentType], age: int) -> list[AppointmentType]:
    child_only = {"child-cleaning", "child-sedation"}
    if age < 18:
        return [
            t
            for t in types
            if t.code
            not in {
                "implant-placement",
                "implant-consult",
                "denture-fitting",
                "perio-maintenance",
                "scaling-root-planing",
                "laser-gum-therapy",
                "periodic-cleaning",
            }
        ]
    return [t for t in types if t.code not in child_only]


def build_history(
    net: Network,
    *,
    rng: random.Random,
    patients: list[Patient],
    agents: list[User],
    today: date,
    months: int = 6,
) -> tuple[int, int]:
    feasible = _Feasible(net)
    occupied: set[tuple[int, date, int]] = set()
    past_days = [today - timedelta(days=d) for d in range(1, months * 30 + 1)]
    past_days = [d for d in past_days if d.weekday() < 5]
    if not past_days:
        return 0, 0
    appointments: list[Appointment] = []
    calls: list[Call] = []
    reschedule_pairs: list[tuple[int, int]] = []
    zones = {loc.pk: zoneinfo.ZoneInfo(loc.time_zone) for loc in net.locations}

    days_by_weekday: dict[int, list[date]] = defaultdict(list)
    for day in past_days:
        days_by_weekday[day.weekday()].append(day)

    def place(patient: Patient, appt_type: AppointmentType) -> Appointment | None:
        region_id = patient.home_location.region_id if patient.home_location else net.regions[0].pk
        options = feasible.by_region_type.get((region_id, appt_type.pk))
        if not options:
            return None
        age = patient.age_on(today)
        units = appt_type.duration_minutes // 30
        for attempt in range(12):
            provider_id, weekday, loc_id = rng.choice(options)
            provider = feasible.providers[provider_id]
            if not provider.min_patient_age <= age <= provider.max_patient_age:
                continue
            # Agents route by language: look for a provider who speaks the patient's
            # before settling for one who does not (real groups mismatch rarely).
            languages = provider.languages or []
            if attempt < 10 and languages and patient.preferred_language not in languages:
                continue
            day = rng.choice(days_by_weekday[weekday])
            starts = [u for u in DAY_UNITS if all(v in DAY_UNITS for v in range(u, u + units))]
            first = rng.choice(starts)
            needed = [(provider_id, day, v) for v in range(first, first + units)]
            if any(k in occupied for k in needed):
                continue
            occupied.update(needed)
            local = datetime.combine(day, time(8, 0), tzinfo=zones[loc_id]) + first * UNIT
            start = local.astimezone(UTC)
            return Appointment(
                patient=patient,
                provider_id=provider_id,
                location_id=loc_id,
                appointment_type=appt_type,
                start=start,
                end=start + units * UNIT,
            )
        return None

    # Visits and stray calls are drawn per six months of history, so --history-months 24
    # gives four times the 6-month volume. Shorter histories keep the six-month volume
    # squeezed into their span (small test networks rely on that density).
    half_years = max(months, 6) / 6
    for patient in patients:
        age = patient.age_on(today)
        visits = round(rng.choice(VISITS_PER_HALF_YEAR) * half_years)
        # A new-patient visit only as a patient's one visit of the window (so it is their
        # first); with several visits the patient is established and gets existing-patient
        # and any-patient types.
        types = [
            t
            for t in _types_for_age(net.appointment_types, age)
            if t.patient_status
            != (
                AppointmentType.PatientStatus.EXISTING
                if visits == 1
                else AppointmentType.PatientStatus.NEW
            )
        ]
        for _ in range(visits):
            appt = place(patient, rng.choice(types))
            if appt is None:
                continue
            status = _weighted(rng, STATUS_WEIGHTS)
            channel = _weighted(rng, CHANNEL_WEIGHTS)
            booked_at = appt.start - timedelta(days=rng.randint(1, 28), minutes=rng.randint(0, 600))
            appt.status = status
            appt.channel = channel
            appt.book_reason = rng.choice(BookReason.values)
            appt.created_at = booked_at
            appt.updated_at = appt.start
            if status in ("cancelled", "rescheduled"):
                appt.cancel_reason = (
                    _weighted(rng, CANCEL_WEIGHTS)
                    if status == "cancelled"
                    else rng.choice(["patient_request", "wrong_location", "provider_unavailable"])
                )
                appt.cancelled_at = appt.start - timedelta(
                    days=rng.randint(0, 5), hours=rng.randint(1, 8)
                )
            agent = rng.choice(agents) if channel == "agent" else None
            appt.booked_by = agent
            appointments.append(appt)
            if agent is not None:
                calls.append(_call(rng, agent, patient, booked_at, "booked", appt.book_reason))
                if rng.random() < 0.08:
                    # The patient had to call back about the same thing: not first-call resolved.
                    calls.append(
                        _call(
                            rng,
                            agent,
                            patient,
                            booked_at + timedelta(days=rng.randint(1, 6)),
                            "info_only",
                            appt.book_reason,
                        )
                    )
            if status == "rescheduled":
                replacement = place(patient, appt.appointment_type)
                if replacement is not None:
                    replacement.status = "completed"
                    replacement.channel = channel
                    replacement.book_reason = appt.book_reason
                    replacement.created_at = appt.cancelled_at or booked_at
                    replacement.updated_at = replacement.start
                    replacement.booked_by = agent
                    appointments.append(replacement)
                    reschedule_pairs.append((len(appointments) - 2, len(appointments) - 1))
    stray_callers: list[Patient] = []
    remaining = len(patients) * max(months, 6) // 18
    while remaining > 0:
        # One caller in three per six months; sample() cannot draw more than the population.
        k = min(remaining, len(patients) // 3 or len(patients))
        stray_callers.extend(rng.sample(patients, k=k))
        remaining -= k
    for patient in stray_callers:
        when = datetime.combine(rng.choice(past_days), time(15, 0), tzinfo=UTC) + timedelta(
            minutes=rng.randint(0, 540)
        )
        calls.append(
            _call(
                rng,
                rng.choice(agents),
                patient,
                when,
                _weighted(rng, CALL_OUTCOME_EXTRA),
                rng.choice(BookReason.values),
            )
        )

    Appointment.objects.bulk_create(appointments, batch_size=5000)
    for original_index, replacement_index in reschedule_pairs:
        appointments[replacement_index].rescheduled_from_id = appointments[original_index].pk
    Appointment.objects.bulk_update(
        [appointments[r] for _, r in reschedule_pairs], ["rescheduled_from"], batch_size=5000
    )
    Call.objects.bulk_create(calls, batch_size=5000)
    _backdate_registrations(patients, appointments, calls, history_start=past_days[-1])
    return len(appointments), len(calls)


def _backdate_registrations(
    patients: list[Patient],
    appointments: list[Appointment],
    calls: list[Call],
    *,
    history_start: date,
) -> None:
    """Patients were registered before their first booking or call, not at seeding time.

    ``created_at`` is auto-set on insert, which would make every patient newer than their
    own history (and than the upcoming bookings dated in the weeks before the seed). Each
    patient is registered up to three years before the history began, or before their
    first recorded activity if earlier, and never before birth. A private Random keeps the
    seed's other draws unchanged.
    """
    rng = random.Random(11)  # noqa: S311 - synthetic demo data, not secrets
    first: dict[int, datetime] = {}
    for when, patient_id in [(a.created_at, a.patient_id) for a in appointments] + [
        (c.started_at, c.patient_id) for c in calls
    ]:
        if patient_id is not None and (patient_id not in first or when < first[patient_id]):
            first[patient_id] = when
    start = datetime.combine(history_start, time(0, 0), tzinfo=UTC)
    for patient in patients:
        anchor = min(first.get(patient.pk, start), start)
        registered = anchor - timedelta(days=rng.randint(1, 3 * 365), minutes=rng.randint(0, 600))
        born = datetime.combine(patient.date_of_birth, time(12, 0), tzinfo=UTC)
        patient.created_at = max(registered, min(born, anchor - timedelta(hours=1)))
    Patient.objects.bulk_update(patients, ["created_at"], batch_size=5000)


def _call(
    rng: random.Random, agent: User, patient: Patient, started: datetime, outcome: str, reason: str
) -> Call:
    return Call(
        agent=agent,
        patient=patient,
        caller_phone=patient.phone,
        reason=reason,
        started_at=started,
        ended_at=started + timedelta(seconds=rng.randint(110, 720)),
        outcome=outcome,
    )
