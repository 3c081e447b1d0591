"""Waitlist entries: who wants an earlier or specific slot, with their preferences."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.compiled import Compiled, stand_in_id
from patients.models import Patient

from ..models import (
    Appointment,
    AppointmentType,
    Location,
    Provider,
    Slot,
    Waitlist,
)
from ..rules.timing import in_time_of_day
from .errors import (
    InvalidTimeOfDay,
    WaitlistWindowInvalid,
)

WAITING = (Waitlist.Status.OPEN, Waitlist.Status.OFFERED)


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


def waitlist_offer(*, entry: Waitlist, slot: Slot, by: User) -> bool:
    """Record that an agent offered ``slot`` to a waiting patient. An open entry becomes
    offered; an entry already offered records the newer offer. Returns False when the
    entry is no longer waiting (booked or closed meanwhile)."""
    now = timezone.now()
    # Conditional update: an entry a booking filled a moment ago stays booked.
    return bool(
        Waitlist.objects.filter(pk=entry.pk, status__in=WAITING).update(
            status=Waitlist.Status.OFFERED, offered_slot=slot, offered_by=by, offered_at=now
        )
    )


def waitlist_close(*, entry: Waitlist, by: User) -> bool:
    """Withdraw a waiting entry (the patient no longer wants an earlier time)."""
    return bool(
        Waitlist.objects.filter(pk=entry.pk, status__in=WAITING).update(
            status=Waitlist.Status.CLOSED, closed_at=timezone.now()
        )
    )


def _waiting_locked_query(patient_ids: list[int], type_ids: list[int]) -> QuerySet[Waitlist]:
    return (
        Waitlist.objects.select_for_update()
        .filter(status__in=WAITING, patient_id__in=patient_ids, appointment_type_id__in=type_ids)
        .order_by("created_at", "pk")
    )


class _WaitingLocked:
    """The waiting entries of these patients and visit types, locked: compiled once for
    one booking's patient and visit type (every booking reads them), the ORM for more."""

    _one: Compiled[Waitlist] = Compiled(
        lambda patient_id, type_id: _waiting_locked_query([patient_id], [type_id]),
        patient_id=stand_in_id(),
        type_id=stand_in_id(),
    )

    def rows(self, *, patient_ids: list[int], type_ids: list[int]) -> list[Waitlist]:
        if len(patient_ids) == len(type_ids) == 1:
            return self._one.rows(patient_id=patient_ids[0], type_id=type_ids[0])
        return list(_waiting_locked_query(patient_ids, type_ids))


_waiting_locked = _WaitingLocked()


def waitlist_fill(*, appointments: Sequence[Appointment]) -> list[int]:
    """Close the waiting entries these bookings satisfy; returns the entry ids filled.

    A booking satisfies an entry of the same patient and visit type when it starts on a
    local date inside the entry's window, in its time of day, with one of its providers
    and at one of its locations (when the entry names any). Each booking fills at most
    one entry (the oldest), and each entry at most one booking. Runs inside the booking's
    transaction, whatever the channel (agent, API, FHIR, a location's PMS), so the
    waitlist fill rate counts every booking that served a waiting patient.
    """
    active = [a for a in appointments if a.status in Appointment.ACTIVE_STATUSES]
    if not active:
        return []
    entries = _waiting_locked.rows(
        patient_ids=sorted({a.patient_id for a in active}),
        type_ids=sorted({a.appointment_type_id for a in active}),
    )
    if not entries:
        return []
    ids = [e.pk for e in entries]
    providers: dict[int, set[int]] = defaultdict(set)
    for entry_id, provider_id in Waitlist.providers.through.objects.filter(
        waitlist_id__in=ids
    ).values_list("waitlist_id", "provider_id"):
        providers[entry_id].add(provider_id)
    locations: dict[int, set[int]] = defaultdict(set)
    for entry_id, location_id in Waitlist.locations.through.objects.filter(
        waitlist_id__in=ids
    ).values_list("waitlist_id", "location_id"):
        locations[entry_id].add(location_id)
    zones = dict(
        Location.objects.filter(pk__in={a.location_id for a in active}).values_list(
            "pk", "time_zone"
        )
    )
    now = timezone.now()
    filled: list[int] = []
    for appointment in active:
        local = appointment.start.astimezone(zoneinfo.ZoneInfo(zones[appointment.location_id]))
        for entry in entries:
            if (
                entry.pk not in filled
                and entry.patient_id == appointment.patient_id
                and entry.appointment_type_id == appointment.appointment_type_id
                and entry.earliest <= local.date() <= entry.latest
                and in_time_of_day(local.hour, entry.time_of_day)
                and (not providers[entry.pk] or appointment.provider_id in providers[entry.pk])
                and (not locations[entry.pk] or appointment.location_id in locations[entry.pk])
            ):
                Waitlist.objects.filter(pk=entry.pk).update(
                    status=Waitlist.Status.BOOKED, appointment=appointment, closed_at=now
                )
                filled.append(entry.pk)
                break
    return filled
