"""Recurring series: plan every occurrence with holds, let the agent decide each, then
book the accepted ones in one transaction; cancel one occurrence or the rest of a series.

Every occurrence is placed by the rules a single booking obeys: the wanted start is
judged by ``slot_judgement`` (what ``appointment_book`` re-checks) and held with
``hold_place``; an alternative is the nearest start ``slot_search`` offers. Booking and
cancelling go through ``appointment_book`` and ``appointment_cancel``, so every
occurrence reaches the location's system as its own appointment, as today.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from patients.models import Patient

from ..models import (
    AppointmentSeries,
    AppointmentType,
    Call,
    Hold,
    Slot,
)
from ..recurrence import series_starts
from ..selectors.booking_rules import slot_judgement
from ..selectors.holds import live_holds
from ..selectors.slot_search import slot_search
from .appointments import appointment_book
from .errors import HoldExpired, SchedulingError
from .holds import hold_place, hold_release
from .slots import slots_materialize

# How far from the wanted day an alternative may be (the agent can still adjust by hand).
ALTERNATIVE_DAYS = 3
ACCEPT, SKIP, UNDECIDED = "accept", "skip", ""

WANTED_BOOKED = "the wanted time is already booked"
NO_OPENING = "no opening with this provider at that time"
NO_ALTERNATIVE = "no permitted start within 3 days"


class SeriesUndecided(SchedulingError):
    message = "Accept, adjust or skip every occurrence before booking the series."
    status_code = 400


class SeriesEmpty(SchedulingError):
    message = "The series has no accepted occurrence to book."
    status_code = 400


class OccurrenceUnknown(SchedulingError):
    message = "That occurrence is not part of the series being planned."
    status_code = 400


@dataclass
class PlannedOccurrence:
    number: int  # 1-based place in the series
    wanted: datetime  # UTC, from the recurrence
    hold_id: int | None = None
    slot_id: int | None = None
    start: datetime | None = None  # the held start: the wanted one or an alternative
    provider: str = ""
    reason: str = ""  # why the wanted start could not be held ("" when it was)
    decision: str = UNDECIDED

    @property
    def held(self) -> bool:
        return self.hold_id is not None

    @property
    def is_alternative(self) -> bool:
        return self.held and self.start != self.wanted


@dataclass
class SeriesPlan:
    """What the agent decides on; kept in the console session as plain data (ids and
    ISO times, no PHI)."""

    patient_id: int
    appointment_type_id: int
    location_id: int
    provider_id: int
    rrule: str
    time_zone: str
    occurrences: list[PlannedOccurrence] = field(default_factory=list)

    def occurrence(self, number: int) -> PlannedOccurrence:
        for occ in self.occurrences:
            if occ.number == number:
                return occ
        raise OccurrenceUnknown()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for occ in data["occurrences"]:
            for key in ("wanted", "start"):
                occ[key] = occ[key].isoformat() if occ[key] else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesPlan:
        occurrences = [
            PlannedOccurrence(
                **{
                    **occ,
                    "wanted": datetime.fromisoformat(occ["wanted"]),
                    "start": datetime.fromisoformat(occ["start"]) if occ["start"] else None,
                }
            )
            for occ in data["occurrences"]
        ]
        return cls(**{**data, "occurrences": occurrences})


def _hold(
    slot: Slot,
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    call: Call | None,
    now: datetime,
) -> tuple[Hold | None, str]:
    """Hold ``slot`` for the visit if every hard rule allows it; else why not."""
    if slot.status != Slot.Status.FREE:
        return None, WANTED_BOOKED
    judged = slot_judgement(patient=patient, appointment_type=appointment_type, slot=slot, now=now)
    if judged is None:
        return None, NO_OPENING
    if judged[1].exclusions:
        return None, "; ".join(judged[1].reasons)
    try:
        placed = hold_place(
            slot=slot, by=by, call=call, patient=patient, appointment_type=appointment_type, now=now
        )
    except SchedulingError as exc:
        return None, exc.message
    return placed, ""


def _nearest(
    wanted: datetime,
    *,
    plan: SeriesPlan,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    taken: set[int],
    now: datetime,
) -> list[int]:
    """Slot ids of the permitted starts nearest ``wanted`` (within ALTERNATIVE_DAYS local
    days), the preferred provider's first, then any provider at the location."""
    local_day = wanted.astimezone(zoneinfo.ZoneInfo(plan.time_zone)).date()
    days = timedelta(days=ALTERNATIVE_DAYS)
    for provider in (plan.provider_id, None):
        result = slot_search(
            patient=patient,
            appointment_type=appointment_type,
            provider=provider,
            location=plan.location_id,
            user=by,
            home_region_only=False,
            limit=200,
            now=now,
            date_from=local_day - days,
            date_to=local_day + days,
        )
        options = [
            o
            for o in result.options
            if o.slot_id not in taken
            and not o.held_by_me
            and abs(o.start - wanted) <= timedelta(days=ALTERNATIVE_DAYS)
        ]
        if options:
            options.sort(key=lambda o: (abs(o.start - wanted), o.start))
            return [o.slot_id for o in options]
    return []


def _place(
    occ: PlannedOccurrence,
    *,
    plan: SeriesPlan,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    call: Call | None,
    taken: set[int],
    now: datetime,
) -> None:
    """Hold the wanted start, else the nearest alternative (with the reason why)."""
    wanted_slot = (
        Slot.objects.select_related("location", "provider")
        .filter(provider_id=plan.provider_id, location_id=plan.location_id, start=occ.wanted)
        .first()
    )
    hold = functools.partial(
        _hold, patient=patient, appointment_type=appointment_type, by=by, call=call, now=now
    )
    placed, reason = hold(wanted_slot) if wanted_slot is not None else (None, NO_OPENING)
    if placed is None:
        occ.reason = reason
        nearest = _nearest(
            occ.wanted,
            plan=plan,
            patient=patient,
            appointment_type=appointment_type,
            by=by,
            taken=taken,
            now=now,
        )
        for slot_id in nearest:
            placed, _ = hold(Slot.objects.select_related("location").get(pk=slot_id))
            if placed is not None:
                break
        else:
            occ.reason = f"{reason}; {NO_ALTERNATIVE}"
    if placed is None:
        occ.decision = SKIP
        return
    slot = Slot.objects.select_related("provider").get(pk=placed.slot_id)
    occ.hold_id, occ.slot_id, occ.start = placed.pk, slot.pk, slot.start
    occ.provider = str(slot.provider)
    taken.add(slot.pk)
    # A start held as wanted is accepted; an alternative waits for the agent.
    occ.decision = UNDECIDED if occ.reason else ACCEPT


def _materialize_beyond_horizon(starts: list[datetime], *, plan: SeriesPlan) -> None:
    """Lay out the provider's slots from their templates around occurrences past the
    rolling horizon (``SLOT_HORIZON_DAYS``): a year of visits reaches far beyond it.

    Only a window with no slot of the provider at all is laid out: the nightly run has
    not reached it, so ``slots_materialize`` there only creates (it would otherwise
    remove free slots that no template produces).
    """
    zone = zoneinfo.ZoneInfo(plan.time_zone)
    days = timedelta(days=ALTERNATIVE_DAYS)
    for wanted in starts:
        day = wanted.astimezone(zone).date()
        window = (wanted - days - timedelta(days=1), wanted + days + timedelta(days=1))
        if not Slot.objects.filter(provider_id=plan.provider_id, start__range=window).exists():
            slots_materialize(
                start=day - days, days=2 * ALTERNATIVE_DAYS + 1, provider_ids=[plan.provider_id]
            )


def series_plan(
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    first_slot: Slot,
    rrule: str,
    by: User,
    call: Call | None = None,
    now: datetime | None = None,
) -> SeriesPlan:
    """Expand ``rrule`` from ``first_slot`` in its location's zone and hold a start for
    every occurrence that can be placed: the wanted one, else the nearest permitted one
    within ALTERNATIVE_DAYS (with the reason the wanted one failed). Nothing is booked;
    ``series_abandon`` gives the holds back, ``series_book`` books the accepted ones.
    """
    now = now or timezone.now()
    location = first_slot.location
    plan = SeriesPlan(
        patient_id=patient.pk,
        appointment_type_id=appointment_type.pk,
        location_id=first_slot.location_id,
        provider_id=first_slot.provider_id,
        rrule=rrule,
        time_zone=location.time_zone,
    )
    taken: set[int] = set()
    starts = series_starts(rrule, first_start=first_slot.start, time_zone=location.time_zone)
    _materialize_beyond_horizon(starts, plan=plan)
    for number, wanted in enumerate(starts, 1):
        occ = PlannedOccurrence(number=number, wanted=wanted)
        _place(
            occ,
            plan=plan,
            patient=patient,
            appointment_type=appointment_type,
            by=by,
            call=call,
            taken=taken,
            now=now,
        )
        plan.occurrences.append(occ)
    return plan


def _release(occ: PlannedOccurrence, by: User) -> None:
    hold = Hold.objects.filter(pk=occ.hold_id or 0, held_by=by).first()
    if hold is not None:
        hold_release(hold=hold, by=by)


def _renew(plan: SeriesPlan, by: User) -> None:
    """Every decision restarts the clock of the plan's live holds (with the tail units a
    long visit holds, placed at the same instant): deciding twelve rows takes longer
    than one hold lasts. A hold that already expired stays expired: its slot may have
    gone to someone else, so the agent plans again."""
    now = timezone.now()
    ids = [o.hold_id for o in plan.occurrences if o.hold_id]
    placed = set(Hold.objects.filter(pk__in=ids, held_by=by).values_list("created_at", flat=True))
    live_holds(now).filter(held_by=by, created_at__in=placed).update(
        expires_at=now + timedelta(minutes=settings.HOLD_MINUTES)
    )


def series_decide(*, plan: SeriesPlan, number: int, decision: str, by: User) -> SeriesPlan:
    """Accept an occurrence's held start, or skip it (its hold goes back at once)."""
    occ = plan.occurrence(number)
    _renew(plan, by)
    if decision == SKIP:
        _release(occ, by)
        occ.hold_id = occ.slot_id = occ.start = None
        occ.provider = ""
        occ.decision = SKIP
    elif decision == ACCEPT and occ.held:
        occ.decision = ACCEPT
    return plan


def series_adjust(
    *,
    plan: SeriesPlan,
    number: int,
    slot: Slot,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    call: Call | None = None,
) -> SeriesPlan:
    """Hold another start the agent picked for one occurrence, judged like any booking.

    The occurrence's previous hold goes back first: releasing a hold also releases the
    agent's holds on the units right behind it (``hold_release``), which would take the
    new hold with it when the agent moves a visit by one unit. If the new start cannot
    be held, the previous one is held again when it is still free, and the error raised.
    """
    occ = plan.occurrence(number)
    taken = {o.slot_id for o in plan.occurrences if o.slot_id and o.number != number}
    if slot.pk in taken:
        raise OccurrenceUnknown()
    previous = Slot.objects.filter(pk=occ.slot_id or 0).first()
    _release(occ, by)
    for candidate in (slot, previous):
        if candidate is None:
            continue
        placed, why = _hold(
            candidate,
            patient=patient,
            appointment_type=appointment_type,
            by=by,
            call=call,
            now=timezone.now(),
        )
        if candidate is slot:
            reason = why
        if placed is not None:
            break
    if placed is None or placed.slot_id != slot.pk:
        occ.hold_id = placed.pk if placed is not None else None
        if occ.hold_id is None:
            occ.slot_id = occ.start = None
            occ.decision = SKIP
        raise SchedulingError(reason)
    occ.hold_id, occ.slot_id, occ.start = placed.pk, slot.pk, slot.start
    occ.provider = str(slot.provider)
    occ.decision = ACCEPT
    _renew(plan, by)
    return plan


def series_abandon(*, plan: SeriesPlan, by: User) -> int:
    """Give back every hold of a plan the agent dropped. Returns how many were open."""
    released = 0
    for occ in plan.occurrences:
        hold = Hold.objects.filter(
            pk=occ.hold_id or 0, held_by=by, released_at__isnull=True, consumed_at__isnull=True
        ).first()
        if hold is not None:
            hold_release(hold=hold, by=by)
            released += 1
    return released


def series_book(
    *,
    plan: SeriesPlan,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    reason: str,
    call: Call | None = None,
) -> AppointmentSeries:
    """Book every accepted occurrence from its hold, all or nothing, in one transaction:
    one failure (a hold expired, a rule now excludes) books none of them and raises it.

    Each is an ordinary ``appointment_book`` (rules re-checked, audit rows, the location
    system's outbox row) and then joins the series under its number.
    """
    if any(o.decision == UNDECIDED for o in plan.occurrences):
        raise SeriesUndecided()
    accepted = [o for o in plan.occurrences if o.decision == ACCEPT and o.held]
    if not accepted:
        raise SeriesEmpty()
    first = min(o.wanted for o in plan.occurrences)
    with transaction.atomic():
        series = AppointmentSeries.objects.create(
            patient=patient,
            appointment_type=appointment_type,
            location_id=plan.location_id,
            provider_id=plan.provider_id,
            rrule=plan.rrule,
            first_start=first,
            created_by=by,
            created_at=timezone.now(),
        )
        for occ in accepted:
            hold = Hold.objects.filter(pk=occ.hold_id or 0).first()
            if hold is None:  # its slot was withdrawn from the schedule meanwhile
                raise HoldExpired()
            appointment = appointment_book(
                hold=hold,
                patient=patient,
                appointment_type=appointment_type,
                by=by,
                reason=reason,
                call=call,
            )
            # The outbox row renders its message at delivery, after this commits, so
            # the location's system sees the series link on the booking itself.
            appointment.series = series
            appointment.series_occurrence = occ.number
            appointment.save(update_fields=["series", "series_occurrence"])
    return series
