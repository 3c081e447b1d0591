"""The page's filters applied to each model, and the period tests every family shares."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Case, Exists, IntegerField, Model, OuterRef, Q, QuerySet, Value, When

from scheduling.models import Appointment, Call, Hold, Location, Slot, Waitlist

from ..filters import KpiFilters


def region_locations(region_id: int) -> list[int]:
    """A region as its location ids, read once (a few dozen rows).

    Filtering on location ids lets the scans stay index-only on the covering indexes and
    spares a join per row; for calls it spares joining locations behind the patients.
    """
    return list(Location.objects.filter(region_id=region_id).values_list("pk", flat=True))


_M = TypeVar("_M", bound=Model)


def scoped(
    qs: QuerySet[_M],
    f: KpiFilters,
    *,
    location: str,
    region: str = "",
    agent: str = "",
    appointment_type: str = "",
) -> QuerySet[_M]:
    """``qs`` narrowed by the page's filters, each through its own path on the model.

    Without a ``region`` path the region is read as its location ids (``region_locations``)
    and matched on ``location``; a filter without a path does not apply to the model.
    """
    if f.region_id:
        if region:
            qs = qs.filter(**{region: f.region_id})
        else:
            qs = qs.filter(**{f"{location}__in": region_locations(f.region_id)})
    if f.location_id:
        qs = qs.filter(**{location: f.location_id})
    if agent and f.agent_id:
        qs = qs.filter(**{agent: f.agent_id})
    if appointment_type and f.appointment_type_id:
        qs = qs.filter(**{appointment_type: f.appointment_type_id})
    return qs


def appointments_scoped(f: KpiFilters) -> QuerySet[Appointment]:
    qs = scoped(
        Appointment.objects.all(),
        f,
        location="location_id",
        agent="booked_by_id",
        appointment_type="appointment_type_id",
    )
    if f.agent_id:
        # An agent's bookings are the ones they made on the phone: a partner app or a
        # FHIR client authenticated as that user, or a row carrying a stale booked_by,
        # is not the agent's work.
        qs = qs.filter(channel=Appointment.Channel.AGENT)
    return qs


def calls_scoped(f: KpiFilters) -> QuerySet[Call]:
    return scoped(Call.objects.all(), f, location="patient__home_location_id", agent="agent_id")


def holds_scoped(f: KpiFilters) -> QuerySet[Hold]:
    return scoped(Hold.objects.all(), f, location="slot__location_id", agent="held_by_id")


def slots_scoped(f: KpiFilters) -> QuerySet[Slot]:
    return scoped(Slot.objects.exclude(status=Slot.Status.BLOCKED), f, location="location_id")


def waitlist_scoped(f: KpiFilters) -> QuerySet[Waitlist]:
    qs = Waitlist.objects.all()
    if f.region_id:
        qs = qs.filter(
            Exists(
                Waitlist.locations.through.objects.filter(
                    waitlist_id=OuterRef("pk"),
                    location_id__in=region_locations(f.region_id),
                )
            )
        )
    if f.location_id:
        qs = qs.filter(
            Exists(
                Waitlist.locations.through.objects.filter(
                    waitlist_id=OuterRef("pk"), location_id=f.location_id
                )
            )
        )
    if f.appointment_type_id:
        qs = qs.filter(appointment_type_id=f.appointment_type_id)
    if f.agent_id:
        qs = qs.filter(created_by_id=f.agent_id)
    return qs


def in_period(field: str, f: KpiFilters) -> Q:
    return Q(**{f"{field}__gte": f.start, f"{field}__lt": f.end})


def in_both(field: str, f: KpiFilters) -> Q:
    """Both periods: the previous one and the selected one."""
    return Q(**{f"{field}__gte": f.prev_start, f"{field}__lt": f.end})


def in_current(field: str, f: KpiFilters) -> Q:
    """The selected period, within rows ``in_both`` already bounded."""
    return Q(**{f"{field}__gte": f.start})


def in_previous(field: str, f: KpiFilters) -> Q:
    """The previous period, within rows ``in_both`` already bounded."""
    return Q(**{f"{field}__lt": f.start})


def flag(condition: Q) -> Case:
    """1 where ``condition`` holds, else 0: a column rows can be grouped or summed by."""
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())
