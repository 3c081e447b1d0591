"""A worker's run of PMS changes to existing appointments (SIU^S13/S14 moves, S15
cancellations, S26 no-shows) applied set-based, with the answers and effects of the
single services in ``external``.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.audit import bulk_audit_possible, log_entries_write, log_entry_for

from .. import signals
from ..models import Appointment, AppointmentSlot, CancelReason, Slot
from ..selectors.holds import open_holds
from .errors import (
    AppointmentNotActive,
    AppointmentNotStarted,
    SchedulingError,
    SlotUnavailable,
    SlotWrongFit,
)
from .external import Window, _coalesced, external_windows_lock
from .external_bookings import BatchDeclined
from .waitlist import waitlist_fill


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
    auditlog entries are then bulk-written, and ``appointments_changed`` goes to the
    receivers once with every change of the run (integrations writes the outbox events
    from it, in one statement).
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
    waitlist_fill(appointments=[a for a, event, _ in events if event == "modified"])
    # One signal for the run, every change in arrival order: integrations answers it with
    # one outbox INSERT (ids in that order, the relay's delivery order), billing voids
    # the ended visits' encounters set-based.
    signals.appointments_changed.send(
        sender=Appointment,
        ended=[(a, event) for a, event, _ in events if event != "modified"],
        changes=events,
    )
