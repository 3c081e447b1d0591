"""Writes for scheduling. Every function here is atomic and keyword-only.

Lock order, everywhere, so that two services never wait on each other in a circle:
appointment row -> hold row -> slot rows (by start) -> room rows (by id).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import outbox
from patients.models import Patient

from . import signals
from .models import (
    Appointment,
    AppointmentSlot,
    AppointmentType,
    BookReason,
    Call,
    CancelReason,
    Hold,
    Location,
    LocationClosure,
    Provider,
    Room,
    ScheduleTemplate,
    Slot,
    TimeOff,
    Waitlist,
)
from .rules import loading
from .rules.base import Candidate, SlotFacts
from .rules.equipment import required_equipment
from .rules.registry import NETWORK_RULE_KEYS, judge_all

# The waitlist matches are reads (selectors); re-exported because the contract lists
# them beside the services that free slots.
from .selectors import waitlist_matches_for_slot as waitlist_matches_for_slot
from .selectors import waitlist_matches_for_slots as waitlist_matches_for_slots


@dataclass(frozen=True)
class MaterializeResult:
    created: int
    removed: int
    kept: int


def _local_slot_starts(
    template: ScheduleTemplate, day: date, tz: zoneinfo.ZoneInfo
) -> Iterator[datetime]:
    """Slot starts for one template on one local date, as aware UTC datetimes.

    Wall-clock times are combined with the location's zone, so 08:00 in America/Denver
    is 08:00 local on both sides of a DST change. A wall time that does not exist that
    day (inside the spring-forward gap) produces no slot rather than a shifted one.
    """
    step = timedelta(minutes=template.slot_minutes)
    cursor = datetime.combine(day, template.start_time)
    end = datetime.combine(day, template.end_time)
    break_start = datetime.combine(day, template.break_start) if template.break_start else None
    break_end = datetime.combine(day, template.break_end) if template.break_end else None
    while cursor + step <= end:
        slot_end = cursor + step
        in_break = (
            break_start is not None
            and break_end is not None
            and cursor < break_end
            and slot_end > break_start
        )
        if not in_break:
            local = cursor.replace(tzinfo=tz)
            as_utc = local.astimezone(UTC)
            if as_utc.astimezone(tz).replace(tzinfo=None) == cursor:
                yield as_utc
        cursor = slot_end


def _overlaps(start: datetime, end: datetime, spans: Iterable[tuple[datetime, datetime]]) -> bool:
    return any(start < span_end and end > span_start for span_start, span_end in spans)


@transaction.atomic
def slots_materialize(
    *, start: date | None = None, days: int | None = None, provider_ids: Iterable[int] | None = None
) -> MaterializeResult:
    """Make the Slot table match the schedule templates over a rolling horizon.

    Idempotent: missing slots are created, free slots that templates no longer produce
    (a template edited, time off or a closure added) are removed, and booked or held
    slots are never touched.
    """
    days = settings.SLOT_HORIZON_DAYS if days is None else days
    if days < 1:
        raise ValueError("days must be at least 1")
    first_day = start or timezone.now().date()
    last_day = first_day + timedelta(days=days - 1)
    now = timezone.now()

    template_rows = ScheduleTemplate.objects.filter(
        active=True, provider__active=True, location__active=True, valid_from__lte=last_day
    ).select_related("location")
    if provider_ids is not None:
        provider_ids = list(provider_ids)
        template_rows = template_rows.filter(provider_id__in=provider_ids)
    templates = [t for t in template_rows if t.valid_until is None or t.valid_until >= first_day]

    closures = set(
        LocationClosure.objects.filter(date__range=(first_day, last_day)).values_list(
            "location_id", "date"
        )
    )
    window_start = datetime.combine(first_day - timedelta(days=1), time.min, tzinfo=UTC)
    window_end = datetime.combine(last_day + timedelta(days=2), time.min, tzinfo=UTC)
    time_off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for provider_id, off_start, off_end in TimeOff.objects.filter(
        ends_at__gt=window_start, starts_at__lt=window_end
    ).values_list("provider_id", "starts_at", "ends_at"):
        time_off[provider_id].append((off_start, off_end))

    desired: dict[tuple[int, datetime], Slot] = {}
    for template in templates:
        tz = zoneinfo.ZoneInfo(template.location.time_zone)
        day = max(first_day, template.valid_from)
        final = min(last_day, template.valid_until or last_day)
        # Jump to the template's weekday, then step a week at a time.
        day += timedelta(days=(template.weekday - day.weekday()) % 7)
        while day <= final:
            if (template.location_id, day) not in closures:
                for slot_start in _local_slot_starts(template, day, tz):
                    slot_end = slot_start + timedelta(minutes=template.slot_minutes)
                    if slot_start < now or _overlaps(
                        slot_start, slot_end, time_off[template.provider_id]
                    ):
                        continue
                    desired[(template.provider_id, slot_start)] = Slot(
                        provider_id=template.provider_id,
                        location_id=template.location_id,
                        template_id=template.pk,
                        start=slot_start,
                        end=slot_end,
                    )
            day += timedelta(days=7)

    existing = Slot.objects.filter(start__gte=max(window_start, now), start__lt=window_end)
    if provider_ids is not None:
        existing = existing.filter(provider_id__in=provider_ids)
    existing_rows = list(
        existing.values_list("id", "provider_id", "location__time_zone", "start", "status")
    )
    existing_keys = {
        (provider_id, slot_start) for _, provider_id, _, slot_start, _ in existing_rows
    }

    to_create = [slot for key, slot in desired.items() if key not in existing_keys]
    # ignore_conflicts: a concurrent run may insert the same (provider, start) first.
    Slot.objects.bulk_create(to_create, batch_size=2000, ignore_conflicts=True)

    stale_ids = [
        slot_id
        for slot_id, provider_id, tz_name, slot_start, status in existing_rows
        if status == Slot.Status.FREE
        and (provider_id, slot_start) not in desired
        and first_day <= slot_start.astimezone(zoneinfo.ZoneInfo(tz_name)).date() <= last_day
    ]
    removed = 0
    if stale_ids:
        held = set(
            Hold.objects.filter(
                slot_id__in=stale_ids, released_at__isnull=True, consumed_at__isnull=True
            ).values_list("slot_id", flat=True)
        )
        removable = [i for i in stale_ids if i not in held]
        for chunk_start in range(0, len(removable), 900):
            chunk = removable[chunk_start : chunk_start + 900]
            removed += (
                Slot.objects.filter(
                    id__in=chunk, status=Slot.Status.FREE, appointment_links__isnull=True
                )
                .delete()[1]
                .get("scheduling.Slot", 0)
            )
    return MaterializeResult(
        created=len(to_create), removed=removed, kept=len(existing_keys) - removed
    )


def hold_expire_stale(*, now: datetime | None = None) -> int:
    """Release holds past their expiry so the slots show as free again. Returns the count."""
    now = now or timezone.now()
    return Hold.objects.filter(
        released_at__isnull=True, consumed_at__isnull=True, expires_at__lte=now
    ).update(released_at=now)


# ---------------------------------------------------------------------------
# Errors people read. Views and the API map ``status_code`` to the HTTP answer and show
# ``message`` (constant, asserted on by tests); ``details`` carries rule reasons.
# ---------------------------------------------------------------------------
class SchedulingError(Exception):
    message: ClassVar[str] = "The schedule could not be changed."
    status_code: ClassVar[int] = 409

    def __init__(self, *details: str) -> None:
        self.details = list(details)
        super().__init__(self.message)


class SlotUnavailable(SchedulingError):
    message = "This slot is no longer available."


class SlotHeld(SlotUnavailable):
    message = "This slot is held by another agent."


class RoomUnavailable(SlotUnavailable):
    message = "No suitably equipped room is free at that time."


class SlotInPast(SchedulingError):
    message = "This slot is in the past."
    status_code = 400


class SlotWrongFit(SchedulingError):
    message = "This slot does not fit this appointment type."
    status_code = 400


class RuleViolation(SchedulingError):
    message = "The scheduling rules exclude this booking."


class HoldExpired(SchedulingError):
    message = "This hold has expired or was released; hold the slot again."


class HoldNotYours(SchedulingError):
    message = "This hold belongs to another agent."
    status_code = 403


class NetworkOverrideNotAllowed(SchedulingError):
    message = "You are not allowed to book out of network."
    status_code = 403


class AppointmentNotActive(SchedulingError):
    message = "Only a booked appointment can be changed."


class AppointmentNotStarted(SchedulingError):
    message = "An appointment can be marked a no-show only after it was due to start."


class PatientMerged(SchedulingError):
    message = "This patient record was merged into another; book on the surviving record."
    status_code = 400


class InvalidReason(SchedulingError):
    message = "Choose a reason from the list."
    status_code = 400


class InvalidExternalStatus(SchedulingError):
    message = "A location system can set an appointment to booked, arrived or completed."
    status_code = 400


class CallNotYours(SchedulingError):
    message = "This call belongs to another agent."
    status_code = 403


class CallAlreadyEnded(SchedulingError):
    message = "This call has already been wrapped up."


class InvalidOutcome(SchedulingError):
    message = "Choose a call outcome from the list."
    status_code = 400


class WaitlistWindowInvalid(SchedulingError):
    message = "The waitlist window must end on or after it starts, and not in the past."
    status_code = 400


class InvalidTimeOfDay(SchedulingError):
    message = "Choose a time of day from the list."
    status_code = 400


# ---------------------------------------------------------------------------
# Holds
# ---------------------------------------------------------------------------
def _live_holds(now: datetime) -> Any:
    return Hold.objects.filter(
        released_at__isnull=True, consumed_at__isnull=True, expires_at__gt=now
    )


def _release_expired(slot_ids: Sequence[int], now: datetime) -> None:
    # An expired hold the beat task has not swept yet still occupies the partial unique
    # index; release it so a new hold can take its place.
    Hold.objects.filter(
        slot_id__in=slot_ids,
        released_at__isnull=True,
        consumed_at__isnull=True,
        expires_at__lte=now,
    ).update(released_at=now)


def _check_call(call: Call | None, by: User) -> None:
    if call is not None and call.agent_id != by.pk:
        raise CallNotYours()


def hold_place(
    *,
    slot: Slot,
    by: User,
    call: Call | None = None,
    patient: Patient | None = None,
    appointment_type: AppointmentType | None = None,
) -> Hold:
    """Hold a free slot for this agent's call for ``settings.HOLD_MINUTES``.

    With ``appointment_type``, every consecutive unit the visit needs is held too (one
    Hold row each, same agent, call and creation time), so nobody can take the tail of a
    long visit while the patient decides; the first unit's hold is returned and is the
    one to book or release. ``patient`` (default: the call's) goes to ``hold_placed``
    receivers, e.g. the real-time eligibility check.

    Holding what the same agent already holds renews it. Concurrent attempts on a slot
    queue on its row lock; the partial unique index ``hold_one_live_per_slot`` is the
    guarantee if anything bypasses the lock.
    """
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        locked = Slot.objects.select_for_update().filter(pk=slot.pk).first()
        if locked is None or locked.status != Slot.Status.FREE:
            raise SlotUnavailable()
        if locked.start <= now:
            raise SlotInPast()
        units = (
            [locked]
            if appointment_type is None
            else _units(locked, appointment_type.duration_minutes)
        )
        ids = [u.pk for u in units]
        _release_expired(ids, now)
        if (
            any(u.status != Slot.Status.FREE for u in units)
            or AppointmentSlot.objects.filter(slot_id__in=ids, active=True).exists()
        ):
            raise SlotUnavailable()
        current = {
            h.slot_id: h
            for h in Hold.objects.filter(
                slot_id__in=ids, released_at__isnull=True, consumed_at__isnull=True
            )
        }
        if any(h.held_by_id != by.pk for h in current.values()):
            raise SlotHeld()
        expires = now + timedelta(minutes=settings.HOLD_MINUTES)
        holds: list[Hold] = []
        for unit in units:
            mine = current.get(unit.pk)
            if mine is not None:
                mine.expires_at = expires
                mine.call = call or mine.call
                mine.save(update_fields=["expires_at", "call"])
                holds.append(mine)
                continue
            try:
                with transaction.atomic():
                    holds.append(
                        Hold.objects.create(
                            slot=unit, held_by=by, call=call, created_at=now, expires_at=expires
                        )
                    )
            except IntegrityError:
                raise SlotHeld() from None
        first = holds[0]
        if first.created_at == now:  # a new hold, not a renewal
            if patient is None and call is not None:
                patient = call.patient
            signals.hold_placed.send(sender=Hold, hold=first, patient=patient)
        return first


def hold_release(*, hold: Hold, by: User) -> Hold:
    """Give the slot back, with the tail units held alongside it. Releasing an already
    released or consumed hold does nothing."""
    if hold.held_by_id != by.pk:
        raise HoldNotYours()
    now = timezone.now()
    Hold.objects.filter(
        held_by_id=by.pk,
        created_at=hold.created_at,
        slot__provider_id=hold.slot.provider_id,
        released_at__isnull=True,
        consumed_at__isnull=True,
    ).update(released_at=now)
    hold.refresh_from_db()
    return hold


def hold_release_for_call(*, call: Call, by: User) -> int:
    """Release every hold still open on a call (the call ended or the agent gave up)."""
    _check_call(call, by)
    return Hold.objects.filter(
        call=call, released_at__isnull=True, consumed_at__isnull=True
    ).update(released_at=timezone.now())


# ---------------------------------------------------------------------------
# Booking
# ---------------------------------------------------------------------------
def _units(first: Slot, minutes: int) -> list[Slot]:
    """Lock and return the consecutive slot units an appointment starting at ``first`` needs.

    Precondition: inside a transaction. Raises SlotWrongFit when the provider's grid has
    a gap, a location change or too few units before the visit would end.
    """
    end = first.start + timedelta(minutes=minutes)
    units = list(
        Slot.objects.select_for_update()
        .filter(provider_id=first.provider_id, start__gte=first.start, start__lt=end)
        .order_by("start")
    )
    if not units or units[0].pk != first.pk:
        raise SlotUnavailable()
    for previous, unit in itertools.pairwise(units):
        if unit.start != previous.end or unit.location_id != first.location_id:
            raise SlotWrongFit()
    if units[-1].end < end:
        raise SlotWrongFit()
    return units


def _check_units_free(units: list[Slot], by: User, now: datetime) -> None:
    if any(u.status != Slot.Status.FREE for u in units):
        raise SlotUnavailable()
    ids = [u.pk for u in units]
    if _live_holds(now).filter(slot_id__in=ids).exclude(held_by_id=by.pk).exists():
        raise SlotHeld()


def _pick_room(
    location_id: int, needed: frozenset[str], start: datetime, end: datetime
) -> Room | None:
    """The least-equipped free room that has everything needed (keeps the CBCT room for
    the visits that need it). None when the location does not model rooms.

    Room rows are locked so two bookings at one location cannot pick the same room; the
    PostgreSQL exclusion constraint ``appointment_room_no_overlap`` backs this up.
    """
    rooms = list(Room.objects.select_for_update().filter(location_id=location_id).order_by("id"))
    if not rooms:
        return None
    equipment: dict[int, set[str]] = defaultdict(set)
    for room_id, code in Room.equipment.through.objects.filter(
        room_id__in=[r.pk for r in rooms]
    ).values_list("room_id", "equipment__code"):
        equipment[room_id].add(code)
    busy = set(
        Appointment.objects.filter(
            room_id__in=[r.pk for r in rooms],
            status__in=Appointment.ACTIVE_STATUSES,
            start__lt=end,
            end__gt=start,
        ).values_list("room_id", flat=True)
    )
    fitting = [r for r in rooms if needed <= equipment[r.pk] and r.pk not in busy]
    if not fitting:
        raise RoomUnavailable()
    return min(fitting, key=lambda r: (len(equipment[r.pk]), r.pk))


def _check_rules(
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    first: Slot,
    by: User,
    network_override_reason: str,
    now: datetime,
    established_with: int | None = None,
) -> tuple[str, frozenset[str]]:
    """Every hard rule for one concrete booking. Returns the override reason actually
    used ("" when the booking is in network) and the equipment the room needs.

    ``established_with``: a provider the patient counts as established with regardless
    of history (a reschedule keeps the relationship the moved booking created)."""
    today = first.location.local(now).date()
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
        plan_id=ctx.patient.plan_id, on=today, location_ids=[first.location_id]
    )
    providers, _ = loading.provider_facts(
        plan_id=ctx.patient.plan_id, on=today, provider_ids=[first.provider_id]
    )
    if first.location_id not in locations or first.provider_id not in providers:
        raise SlotUnavailable()  # the location or provider was deactivated
    candidate = Candidate(
        location=locations[first.location_id],
        provider=providers[first.provider_id],
        slot=SlotFacts(
            id=first.pk,
            start=first.start,
            end=first.start + timedelta(minutes=appointment_type.duration_minutes),
        ),
    )
    judgement = judge_all(ctx, candidate)
    override_used = ""
    hard = list(judgement.exclusions)
    if hard and network_override_reason.strip():
        network = [e for e in hard if e.rule in NETWORK_RULE_KEYS]
        if network:
            if not by.has_perm("scheduling.override_network"):
                raise NetworkOverrideNotAllowed()
            override_used = network_override_reason.strip()[:200]
            hard = [e for e in hard if e.rule not in NETWORK_RULE_KEYS]
    if hard:
        raise RuleViolation(*[e.reason for e in hard])
    return override_used, required_equipment(ctx)


def _link_units(appointment: Appointment, units: list[Slot]) -> None:
    """The double-booking guarantee: ``slot_booked_once`` rejects a second active link."""
    try:
        with transaction.atomic():
            AppointmentSlot.objects.bulk_create(
                [AppointmentSlot(appointment=appointment, slot=u) for u in units]
            )
    except IntegrityError:
        raise SlotUnavailable() from None
    Slot.objects.filter(pk__in=[u.pk for u in units]).update(status=Slot.Status.BOOKED)


def _create_appointment(**fields: Any) -> Appointment:
    # On PostgreSQL the exclusion constraints reject an overlapping active appointment for
    # the provider or the room even when it bypasses the slot grid.
    try:
        with transaction.atomic():
            return Appointment.objects.create(**fields)
    except IntegrityError:
        raise SlotUnavailable() from None


def _unlink(appointment: Appointment, *, now: datetime) -> list[int]:
    """Free the appointment's slot units; returns the ids of future units now free again."""
    slot_ids = list(
        AppointmentSlot.objects.filter(appointment=appointment, active=True).values_list(
            "slot_id", flat=True
        )
    )
    AppointmentSlot.objects.filter(appointment=appointment, active=True).update(active=False)
    Slot.objects.filter(pk__in=slot_ids, status=Slot.Status.BOOKED).update(status=Slot.Status.FREE)
    return list(Slot.objects.filter(pk__in=slot_ids, start__gt=now).values_list("pk", flat=True))


def _attach_patient(call: Call | None, patient: Patient) -> None:
    if call is not None and call.patient_id is None:
        Call.objects.filter(pk=call.pk, patient__isnull=True).update(patient=patient)
        call.patient = patient


def _changed(appointment: Appointment, event: str, previous: Appointment | None = None) -> None:
    signals.appointment_changed.send(
        sender=Appointment, appointment=appointment, event=event, previous=previous
    )


def _book_from_hold(
    *,
    hold: Hold,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    book_reason: str,
    call: Call | None,
    network_override_reason: str,
    channel: str,
    now: datetime,
    rescheduled_from: Appointment | None = None,
) -> Appointment:
    locked = Hold.objects.select_for_update().filter(pk=hold.pk).first()
    if locked is None:
        raise HoldExpired()
    if locked.held_by_id != by.pk:
        raise HoldNotYours()
    if locked.released_at or locked.consumed_at or locked.expires_at <= now:
        raise HoldExpired()
    first = Slot.objects.select_related("location").get(pk=locked.slot_id)
    if first.start <= now:
        raise SlotInPast()
    units = _units(first, appointment_type.duration_minutes)
    _check_units_free(units, by, now)
    override_used, needed = _check_rules(
        patient=patient,
        appointment_type=appointment_type,
        first=first,
        by=by,
        network_override_reason=network_override_reason,
        now=now,
        established_with=rescheduled_from.provider_id if rescheduled_from else None,
    )
    end = first.start + timedelta(minutes=appointment_type.duration_minutes)
    room = _pick_room(first.location_id, needed, first.start, end)
    appointment = _create_appointment(
        patient=patient,
        provider_id=first.provider_id,
        location_id=first.location_id,
        appointment_type=appointment_type,
        room=room,
        start=first.start,
        end=end,
        status=Appointment.Status.BOOKED,
        channel=channel,
        book_reason=book_reason,
        network_override_reason=override_used,
        booked_by=by,
        call=call,
        rescheduled_from=rescheduled_from,
        created_at=now,
        updated_at=now,
    )
    _link_units(appointment, units)
    # Consume this hold and the agent's holds on the visit's other units.
    Hold.objects.filter(
        slot_id__in=[u.pk for u in units],
        held_by_id=by.pk,
        released_at__isnull=True,
        consumed_at__isnull=True,
    ).update(consumed_at=now)
    _attach_patient(call, patient)
    return appointment


def appointment_book(
    *,
    hold: Hold,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    reason: str,
    call: Call | None = None,
    network_override_reason: str = "",
    channel: str = Appointment.Channel.AGENT,
) -> Appointment:
    """Book the held slot (and the consecutive units and room the visit needs) atomically.

    ``reason`` is a BookReason value. The hold must be the agent's own and live. Every
    hard rule is re-checked here, so the API and FHIR get the console's guarantees; an
    out-of-network booking needs ``network_override_reason`` and the override permission.
    """
    if reason not in BookReason.values or channel not in Appointment.Channel.values:
        raise InvalidReason()
    if patient.status == Patient.Status.MERGED:
        raise PatientMerged()
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        appointment = _book_from_hold(
            hold=hold,
            patient=patient,
            appointment_type=appointment_type,
            by=by,
            book_reason=reason,
            call=call,
            network_override_reason=network_override_reason,
            channel=channel,
            now=now,
        )
        outbox.outbox_enqueue(
            event_type=outbox.APPOINTMENT_BOOKED,
            aggregate_type="appointment",
            aggregate_id=appointment.pk,
            location_id=appointment.location_id,
        )
        _changed(appointment, "booked")
    return appointment


def _lock_active(appointment: Appointment) -> Appointment:
    locked = Appointment.objects.select_for_update().filter(pk=appointment.pk).first()
    if locked is None or locked.status != Appointment.Status.BOOKED:
        raise AppointmentNotActive()
    return locked


def appointment_reschedule(
    *, appointment: Appointment, hold: Hold, by: User, reason: str, call: Call | None = None
) -> Appointment:
    """Move a booked appointment to the held slot: the old one becomes ``rescheduled``
    (with ``reason``, a CancelReason value) and a new one points back at it.

    The old units are freed first, so moving by half an hour within the same run works.
    Everything happens in one transaction; if the new booking fails the old one stands.
    """
    if reason not in CancelReason.values:
        raise InvalidReason()
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        old = _lock_active(appointment)
        old.status = Appointment.Status.RESCHEDULED
        old.cancel_reason = reason
        old.cancelled_at = now
        old.updated_at = now
        old.save(update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"])
        _unlink(old, now=now)
        new = _book_from_hold(
            hold=hold,
            patient=old.patient,
            appointment_type=old.appointment_type,
            by=by,
            book_reason=old.book_reason or BookReason.FOLLOW_UP,
            call=call,
            network_override_reason=old.network_override_reason,
            channel=old.channel,
            now=now,
            rescheduled_from=old,
        )
        outbox.outbox_enqueue(
            event_type=outbox.APPOINTMENT_RESCHEDULED,
            aggregate_type="appointment",
            aggregate_id=new.pk,
            location_id=new.location_id,
            payload={"previous_id": old.pk},
        )
        _changed(new, "rescheduled", previous=old)
    appointment.refresh_from_db()
    return new


def appointment_cancel(
    *, appointment: Appointment, by: User, reason: str, call: Call | None = None
) -> Appointment:
    """Cancel a booked appointment with a CancelReason; its future units become free and
    ``selectors.waitlist_matches_for_slots`` shows who is waiting for them."""
    if reason not in CancelReason.values:
        raise InvalidReason()
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_active(appointment)
        locked.status = Appointment.Status.CANCELLED
        locked.cancel_reason = reason
        locked.cancelled_at = now
        locked.updated_at = now
        locked.save(update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"])
        _unlink(locked, now=now)
        _attach_patient(call, locked.patient)
        outbox.outbox_enqueue(
            event_type=outbox.APPOINTMENT_CANCELLED,
            aggregate_type="appointment",
            aggregate_id=locked.pk,
            location_id=locked.location_id,
        )
        _changed(locked, "cancelled")
    return locked


def freed_slot_ids(appointment: Appointment) -> list[int]:
    """Future slot units a cancelled or rescheduled appointment gave back."""
    return list(
        Slot.objects.filter(
            appointment_links__appointment=appointment,
            appointment_links__active=False,
            start__gt=timezone.now(),
            status=Slot.Status.FREE,
        ).values_list("pk", flat=True)
    )


# ---------------------------------------------------------------------------
# Changes that arrive from a location's PMS (inbound SIU). No rules: the front desk has
# already booked; the hub records it, still without double booking. ``origin_connector_id``
# goes into the outbox payload so the relay does not echo the change back to its source.
# ---------------------------------------------------------------------------
def _origin(origin_connector_id: int | None) -> dict[str, Any]:
    return {"origin_connector_id": origin_connector_id} if origin_connector_id else {}


def _occupy_window(
    *, provider: Provider, location: Location, start: datetime, end: datetime, now: datetime
) -> list[Slot]:
    """Lock the provider's units inside [start, end) at the location. A booked unit is a
    conflict; agents' holds on them are released, because the front desk booked first."""
    units = list(
        Slot.objects.select_for_update()
        .filter(provider=provider, start__lt=end, end__gt=start)
        .order_by("start")
    )
    if any(u.status != Slot.Status.FREE or u.location_id != location.pk for u in units):
        raise SlotUnavailable()
    Hold.objects.filter(
        slot_id__in=[u.pk for u in units], released_at__isnull=True, consumed_at__isnull=True
    ).update(released_at=now)
    return units


def appointment_record_external(
    *,
    patient: Patient,
    provider: Provider,
    location: Location,
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime,
    origin_connector_id: int | None = None,
    external_id: str = "",
) -> Appointment:
    """Record a booking made at the location's front desk. Idempotent on
    (location, external_id): the same PMS booking arriving twice returns the first row."""
    if timezone.is_naive(start) or timezone.is_naive(end) or end <= start:
        raise SlotWrongFit()
    now = timezone.now()
    with transaction.atomic():
        if external_id:
            existing = Appointment.objects.filter(
                location=location, external_id=external_id
            ).first()
            if existing is not None:
                return existing
        units = _occupy_window(provider=provider, location=location, start=start, end=end, now=now)
        appointment = _create_appointment(
            patient=patient,
            provider=provider,
            location=location,
            appointment_type=appointment_type,
            start=start,
            end=end,
            status=Appointment.Status.BOOKED,
            channel=Appointment.Channel.LOCATION,
            external_id=external_id,
            created_at=now,
            updated_at=now,
        )
        _link_units(appointment, units)
        outbox.outbox_enqueue(
            event_type=outbox.APPOINTMENT_BOOKED,
            aggregate_type="appointment",
            aggregate_id=appointment.pk,
            location_id=location.pk,
            payload=_origin(origin_connector_id),
        )
        _changed(appointment, "booked")
    return appointment


EXTERNAL_STATUS_EVENTS: dict[str, str] = {
    Appointment.Status.BOOKED: "modified",
    Appointment.Status.ARRIVED: "arrived",
    Appointment.Status.COMPLETED: "completed",
}


def appointment_update_external(
    *,
    appointment: Appointment,
    start: datetime | None = None,
    end: datetime | None = None,
    provider: Provider | None = None,
    location: Location | None = None,
    appointment_type: AppointmentType | None = None,
    status: str | None = None,
    origin_connector_id: int | None = None,
) -> Appointment:
    """Apply a PMS modification (SIU^S14): move, reassign, retype, or mark arrived or
    completed. Only the fields given change; the units are re-occupied when time,
    provider or location move."""
    if status is not None and status not in EXTERNAL_STATUS_EVENTS:
        raise InvalidExternalStatus()
    now = timezone.now()
    with transaction.atomic():
        locked = Appointment.objects.select_for_update().filter(pk=appointment.pk).first()
        if locked is None or not locked.is_active:
            raise AppointmentNotActive()
        new_start = start or locked.start
        new_end = end or (new_start + (locked.end - locked.start))
        if timezone.is_naive(new_start) or timezone.is_naive(new_end) or new_end <= new_start:
            raise SlotWrongFit()
        new_provider = provider or locked.provider
        new_location = location or locked.location
        moved = (new_start, new_end, new_provider.pk, new_location.pk) != (
            locked.start,
            locked.end,
            locked.provider_id,
            locked.location_id,
        )
        if moved:
            _unlink(locked, now=now)
            units = _occupy_window(
                provider=new_provider, location=new_location, start=new_start, end=new_end, now=now
            )
            if new_location.pk != locked.location_id:
                locked.room = None
        locked.start, locked.end = new_start, new_end
        locked.provider, locked.location = new_provider, new_location
        if appointment_type is not None:
            locked.appointment_type = appointment_type
        event = "modified"
        if status is not None:
            locked.status = status
            event = EXTERNAL_STATUS_EVENTS[status]
        locked.updated_at = now
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise SlotUnavailable() from None
        if moved:
            _link_units(locked, units)
        outbox.outbox_enqueue(
            event_type=outbox.APPOINTMENT_MODIFIED,
            aggregate_type="appointment",
            aggregate_id=locked.pk,
            location_id=locked.location_id,
            payload=_origin(origin_connector_id),
        )
        _changed(locked, event)
    return locked


def appointment_cancel_external(
    *,
    appointment: Appointment,
    reason: str = CancelReason.OTHER,
    origin_connector_id: int | None = None,
) -> Appointment:
    """Apply a PMS cancellation (SIU^S15). Cancelling an already cancelled one is a no-op."""
    if reason not in CancelReason.values:
        reason = CancelReason.OTHER
    now = timezone.now()
    with transaction.atomic():
        locked = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if locked.status in (Appointment.Status.CANCELLED, Appointment.Status.RESCHEDULED):
            return locked
        if not locked.is_active:
            raise AppointmentNotActive()
        locked.status = Appointment.Status.CANCELLED
        locked.cancel_reason = reason
        locked.cancelled_at = now
        locked.updated_at = now
        locked.save(update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"])
        _unlink(locked, now=now)
        outbox.outbox_enqueue(
            event_type=outbox.APPOINTMENT_CANCELLED,
            aggregate_type="appointment",
            aggregate_id=locked.pk,
            location_id=locked.location_id,
            payload=_origin(origin_connector_id),
        )
        _changed(locked, "cancelled")
    return locked


def appointment_mark_no_show(
    *,
    appointment: Appointment,
    by: User | None = None,
    origin_connector_id: int | None = None,
) -> Appointment:
    """The patient did not come (SIU^S26 or the front desk). Only once the start passed."""
    now = timezone.now()
    with transaction.atomic():
        locked = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if locked.status == Appointment.Status.NO_SHOW:
            return locked
        if locked.status != Appointment.Status.BOOKED:
            raise AppointmentNotActive()
        if locked.start > now:
            raise AppointmentNotStarted()
        locked.status = Appointment.Status.NO_SHOW
        locked.updated_at = now
        locked.save(update_fields=["status", "updated_at"])
        AppointmentSlot.objects.filter(appointment=locked, active=True).update(active=False)
        outbox.outbox_enqueue(
            event_type=outbox.APPOINTMENT_NO_SHOW,
            aggregate_type="appointment",
            aggregate_id=locked.pk,
            location_id=locked.location_id,
            payload=_origin(origin_connector_id),
        )
        _changed(locked, "no_show")
    return locked


# ---------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------
def call_start(
    *, agent: User, caller_phone: str = "", patient: Patient | None = None, reason: str = ""
) -> Call:
    digits = "".join(ch for ch in caller_phone if ch.isdigit())[:15]
    return Call.objects.create(
        agent=agent,
        patient=patient,
        caller_phone=digits,
        reason=reason[:60],
        started_at=timezone.now(),
    )


def call_attach_patient(*, call: Call, patient: Patient, by: User) -> Call:
    """The caller was identified: the call is about this patient (FCR counts per patient)."""
    _check_call(call, by)
    Call.objects.filter(pk=call.pk).update(patient=patient)
    call.patient = patient
    return call


def call_wrap_up(
    *, call: Call, by: User, outcome: str, notes: str = "", patient: Patient | None = None
) -> Call:
    """End the call with an outcome; any holds still open on it are released."""
    if outcome not in Call.Outcome.values:
        raise InvalidOutcome()
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if locked.ended_at is not None:
            raise CallAlreadyEnded()
        locked.ended_at = max(now, locked.started_at)
        locked.outcome = outcome
        locked.notes = notes
        if patient is not None:
            locked.patient = patient
        locked.save(update_fields=["ended_at", "outcome", "notes", "patient"])
        Hold.objects.filter(call=locked, released_at__isnull=True, consumed_at__isnull=True).update(
            released_at=now
        )
    return locked


# ---------------------------------------------------------------------------
# Waitlist
# ---------------------------------------------------------------------------
def waitlist_add(
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    earliest: date,
    latest: date,
    time_of_day: str = Waitlist.TimeOfDay.ANY,
    providers: Iterable[Provider] = (),
    locations: Iterable[Location] = (),
    notes: str = "",
) -> Waitlist:
    if time_of_day not in Waitlist.TimeOfDay.values:
        raise InvalidTimeOfDay()
    if latest < earliest or latest < timezone.localdate():
        raise WaitlistWindowInvalid()
    with transaction.atomic():
        entry = Waitlist.objects.create(
            patient=patient,
            appointment_type=appointment_type,
            earliest=earliest,
            latest=latest,
            time_of_day=time_of_day,
            notes=notes[:200],
            created_by=by,
            created_at=timezone.now(),
        )
        entry.providers.set(list(providers))
        entry.locations.set(list(locations))
    return entry


def units_needed(appointment_type: AppointmentType, unit_minutes: int) -> int:
    return max(1, math.ceil(appointment_type.duration_minutes / max(unit_minutes, 1)))
