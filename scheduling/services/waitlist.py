"""Waitlist entries: who wants an earlier or specific slot, with their preferences."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from patients.models import Patient

from ..models import (
    AppointmentType,
    Location,
    Provider,
    Waitlist,
)
from .errors import (
    InvalidTimeOfDay,
    WaitlistWindowInvalid,
)


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
