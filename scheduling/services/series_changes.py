"""Changing a booked series: one occurrence or it and every later one, each through the
ordinary appointment services, so each reaches the location's system as today (one SIU
per occurrence, with the series in SCH-4)."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.models import User
from django.db import transaction

from ..models import Appointment, Call, Hold, Slot
from .appointments import appointment_cancel, appointment_reschedule
from .errors import AppointmentNotActive, SchedulingError
from .holds import hold_place, hold_release


class NotInSeries(SchedulingError):
    message = "This appointment is not part of a series."
    status_code = 400


class SeriesMoveBlocked(SchedulingError):
    message = "The series could not be moved; nothing was changed."


def _this_and_following(appointment: Appointment) -> list[Appointment]:
    if appointment.series_id is None:
        raise NotInSeries()
    return list(
        Appointment.objects.select_related("location")
        .filter(
            series_id=appointment.series_id,
            start__gte=appointment.start,
            status=Appointment.Status.BOOKED,
        )
        .order_by("start")
    )


def series_cancel(
    *,
    appointment: Appointment,
    by: User,
    reason: str,
    following: bool = False,
    call: Call | None = None,
) -> list[Appointment]:
    """Cancel one occurrence, or (``following``) it and every later active occurrence of
    its series, each with ``appointment_cancel`` (one SIU^S15 each), in one transaction.
    Earlier occurrences are untouched."""
    if appointment.series_id is None:
        raise NotInSeries()
    targets = _this_and_following(appointment) if following else [appointment]
    with transaction.atomic():
        return [
            appointment_cancel(appointment=target, by=by, reason=reason, call=call)
            for target in targets
        ]


def series_move_following(
    *,
    appointment: Appointment,
    slot: Slot,
    by: User,
    reason: str,
    call: Call | None = None,
) -> list[Appointment]:
    """Move this occurrence to ``slot`` and every later active one of its series by the
    same step on the location's wall clock (a 09:00 Tuesday moved to 10:30 Thursday moves
    each later visit to 10:30 two days on, across DST too), with the same provider.

    Every target is held first; then each occurrence is moved with
    ``appointment_reschedule`` (rules re-checked, SIU^S13 each) in one transaction. When
    any target is missing, taken or refused, nothing moves, the holds go back and
    SeriesMoveBlocked names the occurrence and why.
    """
    targets = _this_and_following(appointment)
    if not targets or targets[0].pk != appointment.pk:
        raise AppointmentNotActive()
    zone = zoneinfo.ZoneInfo(slot.location.time_zone)
    step = slot.start.astimezone(zone).replace(tzinfo=None) - appointment.start.astimezone(
        zone
    ).replace(tzinfo=None)
    holds: list[tuple[Appointment, Hold]] = []
    try:
        for target in targets:
            wall = target.start.astimezone(zone).replace(tzinfo=None) + step
            unit = (
                slot
                if target.pk == appointment.pk
                else Slot.objects.filter(
                    provider_id=slot.provider_id,
                    location_id=slot.location_id,
                    start=wall.replace(tzinfo=zone),
                ).first()
            )
            if unit is None:
                raise SeriesMoveBlocked(_occurrence(target, "no opening at that time"))
            try:
                placed = hold_place(
                    slot=unit, by=by, call=call, appointment_type=target.appointment_type
                )
            except SchedulingError as exc:
                raise SeriesMoveBlocked(_occurrence(target, exc.message)) from None
            holds.append((target, placed))
        with transaction.atomic():
            return [
                appointment_reschedule(
                    appointment=target, hold=placed, by=by, reason=reason, call=call
                )
                for target, placed in holds
            ]
    except SchedulingError:
        for _, placed in holds:
            hold_release(hold=placed, by=by)
        raise


def _occurrence(appointment: Appointment, why: str) -> str:
    number = appointment.series_occurrence or "?"
    return f"visit {number}: {why}"
