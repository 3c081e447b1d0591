"""Demo data for the weeks ahead: upcoming bookings made on calls, the holds they
consumed, provider time off and the waitlist."""

from __future__ import annotations

import random
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

from .history import (
    BOOKING_WINDOW_DAYS,
    CHANNEL_WEIGHTS,
    HOLD_LENGTH,
    MAX_LEAD_DAYS,
    _fits,
    _types_for_age,
    _weighted,
)
from .network import Network


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
            # Agents route by language (the language rule ranks it): a patient who shares
            # one of the provider's languages is who gets the slot when there is one.
            candidates.sort(key=lambda p: not _speaks(provider.languages, p))
            if not contiguous or not candidates:
                i += 1
                continue
            agent = rng.choice(agents)
            channel = _weighted(rng, CHANNEL_WEIGHTS)
            appt = Appointment(
                patient=candidates[0],
                provider_id=provider_id,
                location_id=loc_id,
                appointment_type=appt_type,
                start=run[0][2],
                end=run[-1][3],
                status="booked",
                channel=channel,
                book_reason=rng.choice(BookReason.values),
                # Only an agent's booking has an agent behind it; the KPI agent filter
                # counts what each agent booked.
                booked_by=agent if channel == Appointment.Channel.AGENT else None,
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


def _speaks(languages: list[str] | None, patient: Patient) -> bool:
    return not languages or patient.preferred_language in languages
