"""Holds: an agent keeps a slot (and the tail units of a long visit) while the caller decides."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

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
from .calls import _check_call
from .errors import (
    HoldNotYours,
    SlotHeld,
    SlotInPast,
    SlotUnavailable,
    SlotWrongFit,
)


def hold_expire_stale(*, now: datetime | None = None) -> int:
    """Release holds past their expiry so the slots show as free again. Returns the count."""
    now = now or timezone.now()
    return open_holds().filter(expires_at__lte=now).update(released_at=now)


def _release_expired(slot_ids: Sequence[int], now: datetime) -> None:
    # An expired hold the beat task has not swept yet still occupies the partial unique
    # index; release it so a new hold can take its place.
    open_holds().filter(slot_id__in=slot_ids, expires_at__lte=now).update(released_at=now)


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
        current = {h.slot_id: h for h in open_holds().filter(slot_id__in=ids)}
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
