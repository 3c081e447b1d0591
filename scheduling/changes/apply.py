"""Entering a schedule change: one service call per change, effective at once.

Each service, in one transaction: writes the change (auditlog records it), releases open
holds inside the affected time, re-materializes the provider's slots for the affected
days (free slots inside time off or a closure go, new template hours appear), and turns
every booked visit the change hits into a ``RebookingItem`` with suggested alternatives.
Booked slots are never touched: the visit stays booked until ops acts on its row.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import (
    Appointment,
    Location,
    LocationClosure,
    Provider,
    RebookingItem,
    ScheduleTemplate,
    Slot,
    TimeOff,
)
from ..selectors.holds import open_holds
from ..services.errors import SchedulingError
from ..services.slots import slots_materialize
from .suggest import suggestions_for


class ChangeInvalid(SchedulingError):
    message = "The schedule change is not valid."
    status_code = 400


class ClosureExists(SchedulingError):
    message = "The location is already closed that day."


@dataclass(frozen=True)
class ScheduleChange:
    """What one change did: slots added and removed, holds released, visits hit."""

    created: int
    removed: int
    holds_released: int
    items: tuple[RebookingItem, ...]


def provider_time_zone(provider: Provider) -> zoneinfo.ZoneInfo:
    """The zone a provider's day is read in: where their active templates are (or, with
    none, their first location). A provider working across zones enters time off as a
    time range, which is exact in any zone."""
    zone = (
        ScheduleTemplate.objects.filter(provider=provider, active=True)
        .order_by("location_id")
        .values_list("location__time_zone", flat=True)
        .first()
    ) or provider.locations.order_by("pk").values_list("time_zone", flat=True).first()
    return zoneinfo.ZoneInfo(zone or "UTC")


def _horizon_end(now: datetime) -> date:
    return now.date() + timedelta(days=settings.SLOT_HORIZON_DAYS - 1)


def rematerialize_days(
    provider_ids: Iterable[int], first: date, last: date, now: datetime
) -> tuple[int, int]:
    """Slots of these providers between two dates (UTC dates widened by a day either side,
    so every local day inside is covered), clipped to the materialization horizon."""
    first = max(first - timedelta(days=1), now.date())
    last = min(last + timedelta(days=1), _horizon_end(now))
    if last < first:
        return 0, 0
    result = slots_materialize(
        start=first, days=(last - first).days + 1, provider_ids=list(provider_ids)
    )
    return result.created, result.removed


def _release_holds(slot_q: Q, now: datetime) -> int:
    return open_holds().filter(slot__in=Slot.objects.filter(slot_q)).update(released_at=now)


def _enlist(
    appointments: Sequence[Appointment], *, by: User, now: datetime, **cause: object
) -> tuple[RebookingItem, ...]:
    """A worklist row for each visit not already on the worklist, with its suggestions.
    Called after re-materializing, so no suggestion lies inside the change."""
    listed = set(
        RebookingItem.objects.filter(appointment__in=appointments).values_list(
            "appointment_id", flat=True
        )
    )
    items = []
    for appointment in appointments:
        if appointment.pk in listed:
            continue
        item = RebookingItem(
            appointment=appointment,
            suggestions=suggestions_for(appointment, now=now),
            created_by=by,
            created_at=now,
            **cause,
        )
        item.save()  # one at a time: auditlog writes each row's entry in this transaction
        items.append(item)
    return tuple(items)


def _booked(q: Q, now: datetime) -> list[Appointment]:
    return list(
        Appointment.objects.filter(q, status=Appointment.Status.BOOKED, end__gt=now)
        .select_related("patient", "appointment_type", "location", "provider")
        .order_by("start", "pk")
    )


def time_off_add(
    *, provider: Provider, starts_at: datetime, ends_at: datetime, reason: str, by: User
) -> ScheduleChange:
    """Take a provider off between two aware moments (a sick day is local midnight to
    midnight). No free slot stays inside; holds there are released; booked visits there
    go to the rebooking worklist."""
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at) or ends_at <= starts_at:
        raise ChangeInvalid("The time off must end after it starts.")
    now = timezone.now()
    with transaction.atomic():
        off = TimeOff.objects.create(
            provider=provider, starts_at=starts_at, ends_at=ends_at, reason=reason
        )
        inside = Q(provider=provider, start__lt=ends_at, end__gt=starts_at)
        released = _release_holds(inside, now)
        created, removed = rematerialize_days(
            [provider.pk], starts_at.astimezone(UTC).date(), ends_at.astimezone(UTC).date(), now
        )
        items = _enlist(
            _booked(inside, now),
            by=by,
            now=now,
            cause=RebookingItem.Cause.TIME_OFF,
            cause_note=reason,
            time_off=off,
        )
    return ScheduleChange(created, removed, released, items)


def location_closure_add(*, location: Location, day: date, reason: str, by: User) -> ScheduleChange:
    """Close a location for one local date (weather): its free slots that day go, holds
    are released, booked visits go to the worklist."""
    now = timezone.now()
    zone = zoneinfo.ZoneInfo(location.time_zone)
    day_start = datetime.combine(day, time.min, tzinfo=zone)
    day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    if day_end <= now:
        raise ChangeInvalid("The closure date has already passed.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                closure = LocationClosure.objects.create(location=location, date=day, reason=reason)
        except IntegrityError as exc:
            raise ClosureExists() from exc
        inside = Q(location=location, start__lt=day_end, start__gte=day_start)
        released = _release_holds(inside, now)
        provider_ids = set(
            ScheduleTemplate.objects.filter(location=location).values_list("provider_id", flat=True)
        ) | set(Slot.objects.filter(inside).values_list("provider_id", flat=True))
        created, removed = rematerialize_days(provider_ids, day, day, now)
        items = _enlist(
            _booked(inside, now),
            by=by,
            now=now,
            cause=RebookingItem.Cause.CLOSURE,
            cause_note=reason,
            closure=closure,
        )
    return ScheduleChange(created, removed, released, items)


# What a template edit may change; the provider stays (another provider is another template).
TEMPLATE_FIELDS = (
    "location",
    "weekday",
    "start_time",
    "end_time",
    "slot_minutes",
    "break_start",
    "break_end",
    "valid_from",
    "valid_until",
    "active",
)


def _covers(template: ScheduleTemplate, appointment: Appointment) -> bool:
    """Whether the template's hours hold the whole visit on its local day."""
    zone = zoneinfo.ZoneInfo(appointment.location.time_zone)
    start, end = appointment.start.astimezone(zone), appointment.end.astimezone(zone)
    day = start.date()
    if not (
        template.active
        and template.location_id == appointment.location_id
        and template.weekday == day.weekday()
        and template.valid_from <= day
        and (template.valid_until is None or day <= template.valid_until)
        and end.date() == day
        and template.start_time <= start.time()
        and end.time() <= template.end_time
    ):
        return False
    in_break = (
        template.break_start is not None
        and template.break_end is not None
        and start.time() < template.break_end
        and end.time() > template.break_start
    )
    return not in_break


def _template_change(
    template: ScheduleTemplate, before: ScheduleTemplate | None, *, by: User, now: datetime
) -> ScheduleChange:
    """After a template was saved: new slots appear, slots it no longer makes go, and the
    visits the old version held that no active template holds now go to the worklist.
    Visits no template ever held (a front desk's own bookings) are not the edit's doing."""
    created, removed = rematerialize_days(
        [template.provider_id], now.date(), _horizon_end(now), now
    )
    if before is None:
        return ScheduleChange(created, removed, 0, ())
    current = list(ScheduleTemplate.objects.filter(provider_id=template.provider_id, active=True))
    horizon = datetime.combine(_horizon_end(now) + timedelta(days=2), time.min, tzinfo=UTC)
    candidates = _booked(Q(provider_id=template.provider_id, start__lt=horizon), now)
    hit = [a for a in candidates if _covers(before, a) and not any(_covers(t, a) for t in current)]
    items = _enlist(
        hit,
        by=by,
        now=now,
        cause=RebookingItem.Cause.TEMPLATE,
        cause_note=str(template),
        template=template,
    )
    return ScheduleChange(created, removed, 0, items)


def schedule_template_save(
    *,
    provider: Provider,
    template: ScheduleTemplate | None = None,
    by: User,
    **fields: object,
) -> ScheduleChange:
    """Create a provider's template, or change one (hours, break, valid range, weekday,
    location); ``fields`` are ``TEMPLATE_FIELDS``. The model's constraints are checked
    first and reported as ``ChangeInvalid`` with their messages."""
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(f"not template fields: {sorted(unknown)}")
    now = timezone.now()
    with transaction.atomic():
        before = None
        if template is None:
            template = ScheduleTemplate(provider=provider)
        else:
            template = ScheduleTemplate.objects.select_for_update().get(pk=template.pk)
            if template.provider_id != provider.pk:
                raise ChangeInvalid("The template belongs to another provider.")
            before = ScheduleTemplate.objects.get(pk=template.pk)
        for name, value in fields.items():
            setattr(template, name, value)
        try:
            template.full_clean()
        except ValidationError as exc:
            raise ChangeInvalid(*exc.messages) from exc
        template.save()
        return _template_change(template, before, by=by, now=now)


def schedule_template_end(
    *, template: ScheduleTemplate, last_day: date, by: User
) -> ScheduleChange:
    """End a template after ``last_day`` (a local date). Ending it before it starts
    switches it off."""
    if last_day < template.valid_from:
        return schedule_template_save(
            provider=template.provider, template=template, by=by, active=False
        )
    return schedule_template_save(
        provider=template.provider, template=template, by=by, valid_until=last_day
    )
