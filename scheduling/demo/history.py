"""Six months of past appointments and calls, plus near-term bookings on real slots.

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
    AppointmentSlot,
    AppointmentType,
    BookReason,
    Call,
    Hold,
    Slot,
    TimeOff,
    Waitlist,
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
        for _attempt in range(12):
            provider_id, weekday, loc_id = rng.choice(options)
            provider = feasible.providers[provider_id]
            if not provider.min_patient_age <= age <= provider.max_patient_age:
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

    # Visits and stray calls are drawn per six months of history. They used to be drawn
    # once per patient whatever --history-months said, which capped a 24-month history at
    # about the size of a 6-month one. The default (6 months) draws exactly as before, so
    # the default seed stays the same; shorter histories keep the six-month volume squeezed
    # into their span (small test networks rely on that density).
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


def book_upcoming(
    net: Network, *, rng: random.Random, patients: list[Patient], agents: list[User], today: date
) -> int:
    """Fill part of the materialized slots so utilization and the slot finder look real."""
    feasible_types: dict[tuple[int, int], list[AppointmentType]] = {}
    for provider in net.providers:
        for loc_id in net.provider_locations[provider.pk]:
            feasible_types[(provider.pk, loc_id)] = [
                t
                for t in net.appointment_types
                if net.type_caps[t.pk] <= net.provider_caps[provider.pk]
                and net.type_equipment[t.pk] <= net.location_equipment[loc_id]
            ]
    by_region: dict[int, list[Patient]] = defaultdict(list)
    for patient in patients:
        if patient.home_location is not None:
            by_region[patient.home_location.region_id].append(patient)
    region_of = {loc.pk: loc.region_id for loc in net.locations}
    providers = {p.pk: p for p in net.providers}
    # Established patients: the group has seen them (a completed visit in the history).
    established = set(
        Appointment.objects.filter(status=Appointment.Status.COMPLETED).values_list(
            "patient_id", flat=True
        )
    )
    ages = {p.pk: p.age_on(today) for p in patients}

    slots_by_provider: dict[int, list[tuple[int, int, datetime, datetime]]] = defaultdict(list)
    for row in (
        Slot.objects.filter(status=Slot.Status.FREE)
        .order_by("provider_id", "start")
        .values_list("id", "provider_id", "location_id", "start", "end")
    ):
        slots_by_provider[row[1]].append((row[0], row[2], row[3], row[4]))

    now = datetime.now(tz=UTC)
    # Booking times come from their own Random so the slot and patient draws stay as they were.
    booked_rng = random.Random(8)  # noqa: S311 - synthetic demo data, not secrets
    appointments, links = [], []
    for provider_id, rows in slots_by_provider.items():
        provider = providers[provider_id]
        i = 0
        while i < len(rows):
            _slot_id, loc_id, start, _end = rows[i]
            days_out = (start - now).days
            fill = 0.55 if days_out < 10 else 0.3 if days_out < 30 else 0.08
            types = feasible_types.get((provider_id, loc_id)) or []
            if not types or rng.random() >= fill:
                i += 1
                continue
            appt_type = rng.choice(types)
            units = appt_type.duration_minutes // 30
            run = rows[i : i + units]
            contiguous = len(run) == units and all(
                run[k][3] == run[k + 1][2] and run[k][1] == loc_id for k in range(units - 1)
            )
            candidates = [
                p
                for p in rng.sample(
                    by_region[region_of[loc_id]], k=min(20, len(by_region[region_of[loc_id]]))
                )
                if provider.min_patient_age <= ages[p.pk] <= provider.max_patient_age
                and _fits(appt_type, age=ages[p.pk], established=p.pk in established)
            ]
            if not contiguous or not candidates:
                i += 1
                continue
            agent = rng.choice(agents)
            appt = Appointment(
                patient=candidates[0],
                provider_id=provider_id,
                location_id=loc_id,
                appointment_type=appt_type,
                start=run[0][2],
                end=run[-1][3],
                status="booked",
                channel=_weighted(rng, CHANNEL_WEIGHTS),
                book_reason=rng.choice(BookReason.values),
                booked_by=agent,
                created_at=_booked_at(booked_rng, start=run[0][2], now=now, patient=candidates[0]),
                updated_at=now,
            )
            appointments.append(appt)
            links.append([r[0] for r in run])
            i += units
    _attach_booking_calls(appointments)
    Appointment.objects.bulk_create(appointments, batch_size=5000)
    slot_links = [
        AppointmentSlot(appointment=a, slot_id=s)
        for a, ids in zip(appointments, links, strict=True)
        for s in ids
    ]
    AppointmentSlot.objects.bulk_create(slot_links, batch_size=5000)
    booked_ids = [s.slot_id for s in slot_links]
    for k in range(0, len(booked_ids), 900):
        Slot.objects.filter(id__in=booked_ids[k : k + 900]).update(status=Slot.Status.BOOKED)
    build_holds(appointments, links)
    return len(appointments)


def _attach_booking_calls(appointments: list[Appointment]) -> None:
    """Each upcoming agent booking was made on a call, which the booking points at.

    Without these the KPI pages showed thousands of agent bookings against a few hundred
    calls in the same period. A private Random keeps the seed's other draws unchanged.
    """
    rng = random.Random(9)  # noqa: S311 - synthetic demo data, not secrets
    booked = [a for a in appointments if a.channel == Appointment.Channel.AGENT and a.booked_by_id]
    calls = []
    for appt in booked:
        agent_id = appt.booked_by_id
        assert agent_id is not None  # filtered above; narrows the type for mypy
        started = appt.created_at - timedelta(seconds=rng.randint(180, 600))
        registered = getattr(appt.patient, "created_at", None)
        if registered is not None and started < registered:
            started = registered
        calls.append(
            Call(
                agent_id=agent_id,
                patient=appt.patient,
                caller_phone=appt.patient.phone,
                reason=appt.book_reason,
                started_at=started,
                ended_at=appt.created_at + timedelta(seconds=rng.randint(30, 120)),
                outcome=Call.Outcome.BOOKED,
            )
        )
    Call.objects.bulk_create(calls, batch_size=5000)
    for appt, call in zip(booked, calls, strict=True):
        appt.call = call


def _booked_at(rng: random.Random, *, start: datetime, now: datetime, patient: Patient) -> datetime:
    """When an upcoming visit was booked: at a steady rate over the last BOOKING_WINDOW_DAYS.

    Lead times run from hours to weeks (at most MAX_LEAD_DAYS), the time is never in the
    future and never before the patient was registered.
    """
    ahead = (start - now).total_seconds() / 86_400
    span = max(1.0, min(BOOKING_WINDOW_DAYS, MAX_LEAD_DAYS - ahead))
    booked = now - timedelta(days=rng.uniform(0.01, span))
    registered = getattr(patient, "created_at", None)
    if registered is not None and booked < registered:
        booked = registered + (now - registered) * rng.random()
    return min(booked, now)


def build_holds(appointments: list[Appointment], links: list[list[int]]) -> int:
    """The holds agents placed on the way to their bookings, for hold-to-book conversion.

    Each agent booking consumed a hold on its first slot; before about one in four, the
    agent had held the same time and let it go (released by hand or by the expiry job)
    while the patient hesitated. A private Random keeps the seed's other draws unchanged.
    """
    rng = random.Random(6)  # noqa: S311 - synthetic demo data, not secrets
    holds = []
    for appt, slot_ids in zip(appointments, links, strict=True):
        if appt.channel != Appointment.Channel.AGENT or appt.booked_by_id is None:
            continue
        placed = appt.created_at - timedelta(seconds=rng.randint(20, 170))
        holds.append(
            Hold(
                slot_id=slot_ids[0],
                held_by_id=appt.booked_by_id,
                created_at=placed,
                expires_at=placed + HOLD_LENGTH,
                consumed_at=appt.created_at,
            )
        )
        if rng.random() < 0.25:
            earlier = placed - timedelta(minutes=rng.randint(5, 90))
            let_go = earlier + (HOLD_LENGTH if rng.random() < 0.4 else timedelta(seconds=50))
            holds.append(
                Hold(
                    slot_id=slot_ids[0],
                    held_by_id=appt.booked_by_id,
                    created_at=earlier,
                    expires_at=earlier + HOLD_LENGTH,
                    released_at=let_go,
                )
            )
    Hold.objects.bulk_create(holds, batch_size=5000)
    return len(holds)


def build_time_off(net: Network, *, rng: random.Random, today: date) -> int:
    """About one provider in eight has a week of vacation inside the horizon."""
    rows = []
    for provider in net.providers:
        if rng.random() < 0.125:
            first = today + timedelta(days=rng.randint(7, 70))
            start = datetime.combine(first - timedelta(days=first.weekday()), time.min, tzinfo=UTC)
            rows.append(
                TimeOff(
                    provider=provider,
                    starts_at=start,
                    ends_at=start + timedelta(days=5),
                    reason="Vacation",
                )
            )
    TimeOff.objects.bulk_create(rows)
    return len(rows)


def build_waitlist(
    net: Network, *, rng: random.Random, patients: list[Patient], agents: list[User], today: date
) -> int:
    """Open waitlist entries: patients who want an earlier slot than the one they got."""
    entries, m2m = [], []
    locations_by_region: dict[int, list[int]] = defaultdict(list)
    for loc in net.locations:
        locations_by_region[loc.region_id].append(loc.pk)
    now = datetime.now(tz=UTC)
    for patient in rng.sample(patients, k=max(1, len(patients) // 50)):
        types = _types_for_age(net.appointment_types, patient.age_on(today))
        earliest = today + timedelta(days=rng.randint(1, 10))
        entries.append(
            Waitlist(
                patient=patient,
                appointment_type=rng.choice(types),
                earliest=earliest,
                latest=earliest + timedelta(days=rng.randint(7, 45)),
                time_of_day=rng.choice(Waitlist.TimeOfDay.values),
                created_by=rng.choice(agents),
                created_at=now - timedelta(days=rng.randint(0, 14)),
            )
        )
        region_id = patient.home_location.region_id if patient.home_location else net.regions[0].pk
        m2m.append(
            rng.sample(
                locations_by_region[region_id], k=min(2, len(locations_by_region[region_id]))
            )
        )
    Waitlist.objects.bulk_create(entries, batch_size=5000)
    through = Waitlist.locations.through
    through.objects.bulk_create(
        [
            through(waitlist_id=entry.pk, location_id=loc_id)
            for entry, locs in zip(entries, m2m, strict=True)
            for loc_id in locs
        ],
        batch_size=5000,
    )
    return len(entries)
