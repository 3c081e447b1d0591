"""Holds: an agent keeps a slot (and the tail units of a long visit) while the caller decides."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from config.compiled import Compiled, CompiledByLength, stand_in_id, stand_in_moment
from patients.models import Patient

from .. import signals
from ..models import (
    AppointmentSlot,
    AppointmentType,
    Call,
    Hold,
    Slot,
)
from ..selectors.holds import open_holds
from .errors import (
    CallNotYours,
    HoldNotYours,
    SlotHeld,
    SlotInPast,
    SlotUnavailable,
    SlotWrongFit,
)
from .resources import assistant_hold


def hold_expire_stale(*, now: datetime | None = None) -> int:
    """Release holds past their expiry so the slots show as free again. Returns the count."""
    now = now or timezone.now()
    return open_holds().filter(expires_at__lte=now).update(released_at=now)


def _live_holds_releasing_expired(slot_ids: Sequence[int], now: datetime) -> dict[int, Hold]:
    """The open holds on these (locked) slots by slot id, after releasing the expired ones.

    An expired hold the beat task has not swept yet still occupies the partial unique
    index; it is released so a new hold can take its place. One read, and a write only
    when there is such a hold (rarely: the beat task sweeps them).
    """
    live: dict[int, Hold] = {}
    expired: list[int] = []
    for held in _open_holds_on.rows(slot_ids=list(slot_ids)):
        if held.expires_at <= now:
            expired.append(held.pk)
        else:
            live[held.slot_id] = held
    if expired:
        open_holds().filter(pk__in=expired, expires_at__lte=now).update(released_at=now)
    return live


# Every hold reads these for its units: compiled once per number of units.
_open_holds_on: CompiledByLength[Hold] = CompiledByLength(
    lambda slot_ids: open_holds().filter(slot_id__in=slot_ids), "slot_ids"
)
_booked_links: CompiledByLength[int] = CompiledByLength(
    lambda slot_ids: (
        AppointmentSlot.objects.filter(slot_id__in=slot_ids, active=True)
        .order_by()
        .values_list("pk", flat=True)[:1]
    ),
    "slot_ids",
)


def hold_place(
    *,
    slot: Slot,
    by: User,
    call: Call | None = None,
    patient: Patient | None = None,
    appointment_type: AppointmentType | None = None,
    now: datetime | None = None,
) -> Hold:
    """Hold a free slot for this agent's call for ``settings.HOLD_MINUTES``.

    With ``appointment_type``, every consecutive unit the visit needs is held too (one
    Hold row each, same agent, call and creation time), so nobody can take the tail of a
    long visit while the patient decides; the first unit's hold is returned and is the
    one to book or release. A visit type that needs a second staff member also holds
    that person's units (``companion_of`` the first hold), or raises AssistantUnavailable.
    ``patient`` (default: the call's) goes to ``hold_placed``
    receivers, e.g. the real-time eligibility check.

    Holding what the same agent already holds renews it. Concurrent attempts on a slot
    queue on its row lock; the partial unique index ``hold_one_live_per_slot`` is the
    guarantee if anything bypasses the lock.

    ``now`` defaults to the clock; a caller that replays time (the DST chaos case) passes
    it, as it does to ``hold_expire_stale``.
    """
    _check_call(call, by)
    now = now or timezone.now()
    with transaction.atomic():
        # With a visit type, the slot and the units behind it are locked in one statement
        # (by start, the lock order); the caller's copy names the provider and the start.
        units = (
            list(Slot.objects.select_for_update().filter(pk=slot.pk))
            if appointment_type is None
            else _lock_units(slot, appointment_type.duration_minutes)
        )
        if not units or units[0].pk != slot.pk or units[0].status != Slot.Status.FREE:
            raise SlotUnavailable()
        locked = units[0]
        if locked.start <= now:
            raise SlotInPast()
        if appointment_type is not None:
            _check_fit(units, locked.start + timedelta(minutes=appointment_type.duration_minutes))
        ids = [u.pk for u in units]
        current = _live_holds_releasing_expired(ids, now)
        if any(u.status != Slot.Status.FREE for u in units) or _booked_links.rows(slot_ids=ids):
            raise SlotUnavailable()
        if any(h.held_by_id != by.pk for h in current.values()):
            raise SlotHeld()
        expires = now + timedelta(minutes=settings.HOLD_MINUTES)
        holds: list[Hold] = []
        for unit in units:
            mine = current.get(unit.pk)
            if mine is not None:
                mine.expires_at = expires
                mine.call = call or mine.call
                mine.appointment_type = appointment_type or mine.appointment_type
                mine.save(update_fields=["expires_at", "call", "appointment_type"])
                holds.append(mine)
                continue
            # No savepoint: the error leaves this function's atomic block (a savepoint
            # itself when a caller's transaction is open), which undoes the whole hold.
            try:
                with transaction.atomic(savepoint=False):
                    holds.append(
                        Hold.objects.create(
                            slot=unit,
                            held_by=by,
                            call=call,
                            appointment_type=appointment_type,
                            created_at=now,
                            expires_at=expires,
                        )
                    )
            except IntegrityError:
                raise SlotHeld() from None
        first = holds[0]
        if appointment_type is not None and appointment_type.assistant_capability_id:
            assistant_hold(
                first=first,
                lead=locked,
                appointment_type=appointment_type,
                end=locked.start + timedelta(minutes=appointment_type.duration_minutes),
                by=by,
                call=call,
                now=now,
            )
        if first.created_at == now:  # a new hold, not a renewal
            if patient is None and call is not None:
                patient = call.patient
            signals.hold_placed.send(sender=Hold, hold=first, patient=patient)
        return first


def _check_call(call: Call | None, by: User) -> None:
    if call is not None and call.agent_id != by.pk:
        raise CallNotYours()


def _release_runs(seeds: QuerySet[Hold], *, now: datetime) -> int:
    """Release the open holds in ``seeds`` and, behind each, the same agent's open holds
    on the provider's following back-to-back units at the same location: a long visit's
    tail. Returns how many were released.

    A tail is found by the grid, not by when it was placed: holding a unit, then holding
    it again with a visit type, renews the first hold and adds tail holds created later,
    and those must go with it. A hold the agent placed separately on the very next unit
    goes too: an agent holds for one caller at a time, and a stray hold only blocks others.
    """
    seed_rows = list(seeds.values_list("pk", "held_by_id", "slot__provider_id"))
    if not seed_rows:
        return 0
    seed_ids = {pk for pk, _, _ in seed_rows}
    released: list[int] = []
    for agent_id in {agent for _, agent, _ in seed_rows}:
        providers = {prov for _, agent, prov in seed_rows if agent == agent_id}
        rows = (
            open_holds()
            .filter(held_by_id=agent_id, slot__provider_id__in=providers)
            .order_by("slot__provider_id", "slot__start")
            .values_list("pk", "slot__provider_id", "slot__location_id", "slot__start", "slot__end")
        )
        run: tuple[int, int, datetime] | None = None  # (provider, location, end) of the run
        for pk, provider_id, location_id, start, end in rows:
            if pk in seed_ids or (run is not None and run == (provider_id, location_id, start)):
                released.append(pk)
                run = (provider_id, location_id, end)
            else:
                run = None
    # A second staff member's holds go with the provider's hold they were taken with.
    return (
        open_holds()
        .filter(Q(pk__in=released) | Q(companion_of_id__in=released))
        .update(released_at=now)
    )


def hold_release(*, hold: Hold, by: User) -> Hold:
    """Give the slot back, with the tail units of a long visit held behind it. Releasing
    an already released or consumed hold does nothing."""
    if hold.held_by_id != by.pk:
        raise HoldNotYours()
    with transaction.atomic():
        _release_runs(Hold.objects.filter(pk=hold.pk), now=timezone.now())
    hold.refresh_from_db()
    return hold


def hold_release_for_call(*, call: Call, by: User) -> int:
    """Release every hold still open on a call, with the tails behind them (the call ended
    or the agent gave up). Returns how many were released."""
    _check_call(call, by)
    with transaction.atomic():
        return _release_runs(open_holds().filter(call=call), now=timezone.now())


def _units(first: Slot, minutes: int) -> list[Slot]:
    """Lock and return the consecutive slot units an appointment starting at ``first`` needs.

    Precondition: inside a transaction. Raises SlotWrongFit when the provider's grid has
    a gap, a location change or too few units before the visit would end.
    """
    units = _lock_units(first, minutes)
    if not units or units[0].pk != first.pk:
        raise SlotUnavailable()
    _check_fit(units, first.start + timedelta(minutes=minutes))
    return units


def _lock_units(first: Slot, minutes: int) -> list[Slot]:
    """Lock and return the provider's slot rows from ``first``'s start until the visit
    would end, by start; the caller checks that the first is ``first`` (``_units``)."""
    end = first.start + timedelta(minutes=minutes)
    return _provider_units.rows(provider_id=first.provider_id, start=first.start, end=end)


# Every hold and booking locks its units: compiled once (config.compiled).
_provider_units: Compiled[Slot] = Compiled(
    lambda provider_id, start, end: (
        Slot.objects.select_for_update()
        .filter(provider_id=provider_id, start__gte=start, start__lt=end)
        .order_by("start")
    ),
    provider_id=stand_in_id(),
    start=stand_in_moment(),
    end=stand_in_moment(),
)


def _check_fit(units: list[Slot], end: datetime) -> None:
    """SlotWrongFit unless the units run back to back at one location until ``end``."""
    for previous, unit in itertools.pairwise(units):
        if unit.start != previous.end or unit.location_id != units[0].location_id:
            raise SlotWrongFit()
    if units[-1].end < end:
        raise SlotWrongFit()
