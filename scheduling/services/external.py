"""Changes that arrive from a location's PMS (inbound SIU). No rules: the front desk has
already booked; the hub records it, still without double booking. ``origin_connector_id``
goes into the outbox payload so the relay does not echo the change back to its source.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.audit import bulk_audit_possible, log_creates, log_entries_write, log_entry_for
from integrations import outbox
from patients.models import Patient

from .. import signals
from ..models import (
    Appointment,
    AppointmentSlot,
    AppointmentType,
    CancelReason,
    Location,
    Provider,
    Slot,
)
from ..selectors.holds import open_holds
from .appointments import (
    _announce,
    _create_appointment,
    _link_units,
    _take_off_schedule,
    _unlink,
)
from .errors import (
    AppointmentNotActive,
    AppointmentNotStarted,
    InvalidExternalStatus,
    SchedulingError,
    SlotUnavailable,
    SlotWrongFit,
)


def _origin(origin_connector_id: int | None) -> dict[str, Any]:
    return {"origin_connector_id": origin_connector_id} if origin_connector_id else {}


Window = tuple[int, datetime, datetime]  # provider id, start, end


def _coalesced(windows: list[Window]) -> list[Window]:
    """Each provider's windows merged where they overlap or touch: a unit overlaps the
    merged window exactly when it overlaps one of its parts, and a front desk's run of
    back-to-back bookings becomes one range for the database to look up."""
    merged: list[Window] = []
    for provider_id, start, end in sorted(windows, key=lambda w: (w[0], w[1])):
        if merged and merged[-1][0] == provider_id and start <= merged[-1][2]:
            last = merged[-1]
            merged[-1] = (provider_id, last[1], max(last[2], end))
        else:
            merged.append((provider_id, start, end))
    return merged


def external_windows_lock(*, windows: list[Window]) -> list[Slot]:
    """Lock the units of each provider's [start, end) window; returns them in start order.

    A front-desk booking that also changes its patient (the SIU's PID) calls this BEFORE
    the patient upsert, so it takes its locks in the services' order (units, holds,
    patient) like an agent's booking, and the two cannot deadlock over one slot."""
    windows = _coalesced(windows)
    if not windows:
        return []
    if connection.vendor == "postgresql":
        # One statement whatever the batch size: the windows travel as three arrays.
        # (An ORM OR of 500 windows costs more to build than the booking it guards.)
        # The table name comes from the model; every value is a parameter.
        table = connection.ops.quote_name(Slot._meta.db_table)
        sql = (
            f"SELECT s.* FROM {table} s WHERE EXISTS (SELECT 1 FROM "  # noqa: S608
            "unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS w(p, a, b) "
            'WHERE s.provider_id = w.p AND s.start < w.b AND s."end" > w.a) '
            "ORDER BY s.start, s.id FOR UPDATE"
        )
        columns = [list(column) for column in zip(*windows, strict=True)]
        return list(Slot.objects.raw(sql, columns))
    # SQLite has no row locks (a writer holds the whole database), so this only reads.
    in_window = reduce(
        or_, (Q(provider_id=p, start__lt=end, end__gt=start) for p, start, end in windows)
    )
    return list(Slot.objects.filter(in_window).order_by("start", "id"))


def _occupy_window(
    *, provider: Provider, location: Location, start: datetime, end: datetime, now: datetime
) -> list[Slot]:
    """Lock the provider's units inside [start, end) at the location. A booked unit is a
    conflict; agents' holds on them are released, because the front desk booked first."""
    units = external_windows_lock(windows=[(provider.pk, start, end)])
    if any(u.status != Slot.Status.FREE or u.location_id != location.pk for u in units):
        raise SlotUnavailable()
    open_holds().filter(slot_id__in=[u.pk for u in units]).update(released_at=now)
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
        _announce(
            appointment,
            "booked",
            outbox_event=outbox.APPOINTMENT_BOOKED,
            payload=_origin(origin_connector_id),
        )
    return appointment


@dataclass(frozen=True)
class ExternalBooking:
    """One front-desk booking of a batch (the arguments of appointment_record_external)."""

    patient_id: int
    provider_id: int
    location_id: int
    appointment_type_id: int
    start: datetime
    end: datetime
    external_id: str = ""
    origin_connector_id: int | None = None


class BatchDeclined(Exception):
    """The batch path cannot reproduce the one-by-one effects right now (auditlog or
    signal hooks it does not know): the caller records the bookings one at a time."""


def appointments_record_external_batch(
    items: list[ExternalBooking],
) -> list[Appointment | SchedulingError]:
    """``appointment_record_external`` for a worker's run of PMS bookings, with the same
    effects in a handful of statements instead of ~20 per booking.

    Decisions are made in arrival order, as one-by-one calls would make them: a booking
    whose units are booked, at another location, or taken by an EARLIER booking of the
    batch gets its error back (SlotUnavailable, SlotWrongFit) and writes nothing; a
    repeated (location, external id) returns the first row. Every unit is locked in one
    statement, in start order like the single path. Appointments, unit links, auditlog
    entries and outbox events are bulk-written, and ``appointments_booked`` goes to the
    receivers once. A database error (PostgreSQL's exclusion constraint against an
    overlapping appointment outside the slot grid, say) propagates: the caller runs this
    in a savepoint and falls back to one booking at a time.
    """
    if not bulk_audit_possible() or not signals.bulk_receivers_ready():
        raise BatchDeclined()
    results: list[Appointment | SchedulingError | None] = [None] * len(items)
    now = timezone.now()
    valid: list[int] = []
    for idx, item in enumerate(items):
        if timezone.is_naive(item.start) or timezone.is_naive(item.end) or item.end <= item.start:
            results[idx] = SlotWrongFit()
        else:
            valid.append(idx)
    with transaction.atomic():
        known: dict[tuple[int, str], Appointment] = {}
        wanted = {
            (items[i].location_id, items[i].external_id) for i in valid if items[i].external_id
        }
        if wanted:
            for row in Appointment.objects.filter(
                location_id__in={loc for loc, _ in wanted},
                external_id__in={ext for _, ext in wanted},
            ):
                if (row.location_id, row.external_id) in wanted:
                    known[(row.location_id, row.external_id)] = row
        windows = [
            (items[i].provider_id, items[i].start, items[i].end)
            for i in valid
            if (items[i].location_id, items[i].external_id) not in known
        ]
        by_provider: dict[int, list[Slot]] = defaultdict(list)
        for unit in external_windows_lock(windows=windows):
            by_provider[unit.provider_id].append(unit)
        taken: set[int] = set()
        booked: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        plan: list[tuple[Appointment, list[Slot], int | None]] = []
        for idx in valid:
            item = items[idx]
            key = (item.location_id, item.external_id)
            if item.external_id and key in known:
                results[idx] = known[key]
                continue
            units = [
                u
                for u in by_provider[item.provider_id]
                if u.start < item.end and u.end > item.start
            ]
            if any(
                u.status != Slot.Status.FREE or u.location_id != item.location_id or u.pk in taken
                for u in units
            ) or any(s < item.end and e > item.start for s, e in booked[item.provider_id]):
                results[idx] = SlotUnavailable()
                continue
            appointment = Appointment(
                patient_id=item.patient_id,
                provider_id=item.provider_id,
                location_id=item.location_id,
                appointment_type_id=item.appointment_type_id,
                start=item.start,
                end=item.end,
                status=Appointment.Status.BOOKED,
                channel=Appointment.Channel.LOCATION,
                external_id=item.external_id,
                created_at=now,
                updated_at=now,
            )
            taken.update(u.pk for u in units)
            booked[item.provider_id].append((item.start, item.end))
            if item.external_id:
                known[key] = appointment
            plan.append((appointment, units, item.origin_connector_id))
            results[idx] = appointment
        if plan:
            _write_external_batch(plan, taken, now)
    done = [r for r in results if r is not None]
    assert len(done) == len(items)
    return done


def _write_external_batch(
    plan: list[tuple[Appointment, list[Slot], int | None]], taken: set[int], now: datetime
) -> None:
    if taken:
        open_holds().filter(slot_id__in=taken).update(released_at=now)
    appointments = Appointment.objects.bulk_create([a for a, _, _ in plan])
    AppointmentSlot.objects.bulk_create(
        [AppointmentSlot(appointment=a, slot=u) for a, units, _ in plan for u in units]
    )
    if taken:
        Slot.objects.filter(pk__in=taken).update(status=Slot.Status.BOOKED)
    log_creates(appointments)
    outbox.outbox_enqueue_many(
        [
            outbox.Outgoing(
                outbox.APPOINTMENT_BOOKED, "appointment", a.pk, a.location_id, _origin(origin)
            )
            for a, _, origin in plan
        ]
    )
    signals.appointments_booked.send(sender=Appointment, appointments=appointments)


@dataclass(frozen=True)
class ExternalChange:
    """One PMS change to an existing appointment, in a batch: "modified" (SIU^S13/S14,
    the arguments of appointment_update_external; None keeps the current value),
    "cancelled" (S15, appointment_cancel_external) or "no_show" (S26,
    appointment_mark_no_show)."""

    appointment_id: int
    event: str
    start: datetime | None = None
    end: datetime | None = None
    provider_id: int | None = None
    appointment_type_id: int | None = None
    reason: str = CancelReason.OTHER
    origin_connector_id: int | None = None


_CANCEL_FIELDS = ["status", "cancel_reason", "cancelled_at", "updated_at"]
_NO_SHOW_FIELDS = ["status", "updated_at"]
_WRITTEN_FIELDS = [
    "start",
    "end",
    "provider",
    "appointment_type",
    "status",
    "cancel_reason",
    "cancelled_at",
    "updated_at",
]


class _Uncovered(BatchDeclined):
    """A change needs units outside what the batch locked up front."""


def _window_after(appointment: Appointment, item: ExternalChange) -> Window:
    start = item.start or appointment.start
    end = item.end or (start + (appointment.end - appointment.start))
    return (item.provider_id or appointment.provider_id, start, end)


def appointments_change_external_batch(
    items: list[ExternalChange],
) -> list[Appointment | SchedulingError]:
    """``appointment_update_external`` / ``appointment_cancel_external`` /
    ``appointment_mark_no_show`` for a worker's run, with the same answers and effects
    in a handful of statements.

    The appointments are locked in one statement, then every unit the run can touch
    (each appointment's windows before and after each change) in one more, in start
    order. The changes are then played in arrival order against those rows in memory,
    so a move may take the units an earlier cancellation or move of the run freed, and
    a refused change (SlotUnavailable, SlotWrongFit, AppointmentNotActive,
    AppointmentNotStarted) leaves nothing behind. Rows, unit links, unit states, holds,
    auditlog entries and outbox events are then bulk-written; ``appointments_ended``
    goes to the receivers once, and ``appointment_changed`` once per modification.
    A change needing units nobody locked, or a database error, raises: the caller applies
    the run one change at a time.
    """
    from auditlog.models import LogEntry

    if not bulk_audit_possible() or not signals.bulk_receivers_ready():
        raise BatchDeclined()
    now = timezone.now()
    with transaction.atomic():
        rows = Appointment.objects.select_for_update().in_bulk(
            sorted({i.appointment_id for i in items})
        )
        # 1. Every window a change can touch, assuming each succeeds (a refusal only
        # narrows what is touched), locked in one statement.
        originals = {pk: copy.copy(a) for pk, a in rows.items()}
        planned = {pk: copy.copy(a) for pk, a in rows.items()}
        windows: list[Window] = []
        for item in items:
            current = planned.get(item.appointment_id)
            if current is None:
                continue
            windows.append((current.provider_id, current.start, current.end))
            if item.event == "modified":
                provider_id, start, end = _window_after(current, item)
                windows.append((provider_id, start, end))
                current.provider_id, current.start, current.end = provider_id, start, end
        units = {u.pk: u for u in external_windows_lock(windows=windows)}
        covered = _coalesced(windows)
        by_provider: dict[int, list[Slot]] = defaultdict(list)
        for unit in units.values():
            by_provider[unit.provider_id].append(unit)
        linked: dict[int, set[int]] = defaultdict(set)
        for appointment_id, slot_id in AppointmentSlot.objects.filter(
            appointment_id__in=rows, active=True
        ).values_list("appointment_id", "slot_id"):
            if slot_id not in units:
                raise _Uncovered()
            linked[appointment_id].add(slot_id)
        status = {pk: u.status for pk, u in units.items()}
        initial_status = dict(status)

        # 2. Play the changes in order.
        results: list[Appointment | SchedulingError] = []
        entries: list[Any] = []
        events: list[tuple[Appointment, str, int | None]] = []
        relinked: set[int] = set()  # appointments whose links are rewritten
        moved_to: dict[int, list[int]] = {}
        taken: set[int] = set()
        for item in items:
            appointment = rows.get(item.appointment_id)
            outcome = _play(item, appointment, now, units, by_provider, covered, linked, status)
            if isinstance(outcome, SchedulingError):
                results.append(outcome)
                continue
            assert appointment is not None
            if outcome is None:  # nothing to do: the row as it is
                results.append(appointment)
                continue
            before, fields, new_units = outcome
            if item.event != "modified" or new_units is not None:
                relinked.add(appointment.pk)
            if new_units is not None:
                moved_to[appointment.pk] = new_units
                taken.update(new_units)
            elif item.event != "modified":
                moved_to[appointment.pk] = []
            entries.append(
                log_entry_for(copy.copy(appointment), LogEntry.Action.UPDATE, before, fields)
            )
            events.append((appointment, item.event, item.origin_connector_id))
            results.append(appointment)
        if events:
            _write_change_batch(
                events, originals, entries, relinked, moved_to, taken, status, initial_status, now
            )
    return results


def _play(
    item: ExternalChange,
    appointment: Appointment | None,
    now: datetime,
    units: dict[int, Slot],
    by_provider: dict[int, list[Slot]],
    covered: list[Window],
    linked: dict[int, set[int]],
    status: dict[int, str],
) -> SchedulingError | tuple[Appointment, list[str] | None, list[int] | None] | None:
    """Apply one change to the in-memory rows, as the single service would. Returns the
    refusal, None for a no-op, or (state before, fields saved, new units or None)."""
    if appointment is None:
        return AppointmentNotActive()
    before = copy.copy(appointment)
    if item.event == "cancelled":
        if appointment.status in (Appointment.Status.CANCELLED, Appointment.Status.RESCHEDULED):
            return None
        if not appointment.is_active:
            return AppointmentNotActive()
        for slot_id in linked.pop(appointment.pk, set()):
            if status[slot_id] == Slot.Status.BOOKED:
                status[slot_id] = Slot.Status.FREE
        appointment.status = Appointment.Status.CANCELLED
        appointment.cancel_reason = (
            item.reason if item.reason in CancelReason.values else CancelReason.OTHER
        )
        appointment.cancelled_at = now
        appointment.updated_at = now
        return before, _CANCEL_FIELDS, None
    if item.event == "no_show":
        if appointment.status == Appointment.Status.NO_SHOW:
            return None
        if appointment.status != Appointment.Status.BOOKED:
            return AppointmentNotActive()
        if appointment.start > now:
            return AppointmentNotStarted()
        linked.pop(appointment.pk, None)  # the units stay booked: the time was used
        appointment.status = Appointment.Status.NO_SHOW
        appointment.updated_at = now
        return before, _NO_SHOW_FIELDS, None
    # "modified"
    if not appointment.is_active:
        return AppointmentNotActive()
    provider_id, start, end = _window_after(appointment, item)
    if timezone.is_naive(start) or timezone.is_naive(end) or end <= start:
        return SlotWrongFit()
    new_units: list[int] | None = None
    if (start, end, provider_id) != (appointment.start, appointment.end, appointment.provider_id):
        if not any(p == provider_id and a <= start and end <= b for p, a, b in covered):
            raise _Uncovered()
        mine = linked.get(appointment.pk, set())
        wanted = [u for u in by_provider[provider_id] if u.start < end and u.end > start]
        # Its own booked units count as free: the single service unlinks them first.
        if any(
            u.location_id != appointment.location_id
            or (
                status[u.pk] != Slot.Status.FREE
                and not (u.pk in mine and status[u.pk] == Slot.Status.BOOKED)
            )
            for u in wanted
        ):
            return SlotUnavailable()
        for slot_id in linked.pop(appointment.pk, set()):
            if status[slot_id] == Slot.Status.BOOKED:
                status[slot_id] = Slot.Status.FREE
        for unit in wanted:
            status[unit.pk] = Slot.Status.BOOKED
        linked[appointment.pk] = {u.pk for u in wanted}
        new_units = [u.pk for u in wanted]
        appointment.start, appointment.end = start, end
        appointment.provider_id = provider_id
    if item.appointment_type_id is not None:
        appointment.appointment_type_id = item.appointment_type_id
    appointment.updated_at = now
    return before, None, new_units


def _save_rows(rows: list[Appointment], originals: dict[int, Appointment]) -> None:
    """Write the fields that changed. Rows whose new values are the same (every
    cancellation of a batch, say) share one UPDATE; Django's bulk_update builds a CASE
    per row and field, which cost more than everything else a batch of cancellations
    does, so it is left for the rows whose values are their own (moves)."""
    fields = [
        f
        for f in Appointment._meta.concrete_fields
        if f.name in _WRITTEN_FIELDS
        and any(getattr(r, f.attname) != getattr(originals[r.pk], f.attname) for r in rows)
    ]
    groups: dict[tuple[Any, ...], list[Appointment]] = defaultdict(list)
    for row in rows:
        groups[tuple(getattr(row, f.attname) for f in fields)].append(row)
    alone = []
    for values, members in groups.items():
        if len(members) == 1:
            alone.extend(members)
        else:
            Appointment.objects.filter(pk__in=[m.pk for m in members]).update(
                **{f.attname: v for f, v in zip(fields, values, strict=True)}
            )
    if alone and fields:
        Appointment.objects.bulk_update(alone, [f.name for f in fields])


def _write_change_batch(
    events: list[tuple[Appointment, str, int | None]],
    originals: dict[int, Appointment],
    entries: list[Any],
    relinked: set[int],
    moved_to: dict[int, list[int]],
    taken: set[int],
    status: dict[int, str],
    initial_status: dict[int, str],
    now: datetime,
) -> None:
    _save_rows(list({a.pk: a for a, _, _ in events}.values()), originals)
    if relinked:
        AppointmentSlot.objects.filter(appointment_id__in=relinked, active=True).update(
            active=False
        )
        AppointmentSlot.objects.bulk_create(
            AppointmentSlot(appointment_id=pk, slot_id=slot_id)
            for pk, slot_ids in moved_to.items()
            for slot_id in slot_ids
        )
    for new_status in (Slot.Status.FREE, Slot.Status.BOOKED):
        flipped = [
            pk
            for pk, now_is in status.items()
            if now_is == new_status and initial_status[pk] != new_status
        ]
        if flipped:
            Slot.objects.filter(pk__in=flipped).update(status=new_status)
    if taken:
        open_holds().filter(slot_id__in=taken).update(released_at=now)
    log_entries_write(entries)
    outbox_events = {
        "modified": outbox.APPOINTMENT_MODIFIED,
        "cancelled": outbox.APPOINTMENT_CANCELLED,
        "no_show": outbox.APPOINTMENT_NO_SHOW,
    }
    outbox.outbox_enqueue_many(
        [
            outbox.Outgoing(
                outbox_events[event], "appointment", a.pk, a.location_id, _origin(origin)
            )
            for a, event, origin in events
        ]
    )
    ended = [(a, event) for a, event, _ in events if event != "modified"]
    if ended:
        signals.appointments_ended.send(sender=Appointment, ended=ended)
    for appointment, event, _ in events:
        if event == "modified":
            # Billing does nothing on "modified": the per-row signal costs nothing and
            # every receiver hears exactly what one by one would tell it.
            signals.appointment_changed.send(
                sender=Appointment, appointment=appointment, event=event, previous=None
            )


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
        _announce(
            locked,
            event,
            outbox_event=outbox.APPOINTMENT_MODIFIED,
            payload=_origin(origin_connector_id),
        )
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
        _take_off_schedule(locked, status=Appointment.Status.CANCELLED, reason=reason, now=now)
        _announce(
            locked,
            "cancelled",
            outbox_event=outbox.APPOINTMENT_CANCELLED,
            payload=_origin(origin_connector_id),
        )
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
        _announce(
            locked,
            "no_show",
            outbox_event=outbox.APPOINTMENT_NO_SHOW,
            payload=_origin(origin_connector_id),
        )
    return locked
