"""The rows behind scheduling's KPI numbers: one registry entry per drill-down.

A drill-down lists appointments, calls, slots, claims or messages with the same scope as
the metric it came from; billing and integrations register theirs the same way, with the
formatting helpers here. Patients appear as opaque ids unless the viewer may see patient
records (``patients.view_patient``); then names are shown and every patient shown is
written to the audit log as an access, like the console's patient panel.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from scheduling.models import (
    Appointment,
    AppointmentType,
    BookReason,
    Call,
    Hold,
    Slot,
    Waitlist,
)

from .filters import KpiFilters
from .registry import Column, Drill, drill_register
from .selectors import (
    AUTOMATED_CHANNELS,
    CALL_DURATION,
    FCR_ELIGIBLE,
    MISMATCH_Q,
    SCHEDULE_FILL_DAYS,
    UNRESOLVED_OUTCOMES,
    appointments_scoped,
    booking_q,
    callback_exists,
    calls_scoped,
    capable_providers,
    holds_scoped,
    in_period,
    schedule_fill_window,
    slots_scoped,
    waitlist_scoped,
    with_mismatch_flags,
    wrong_location_q,
)


def fmt_time(moment: Any, location: Any = None) -> str:
    """A timestamp in the location's own time with its zone abbreviation (MST, PDT…).

    Rows without a location (calls, ledger messages, waitlist entries) stay in UTC, labelled.
    """
    if not moment:
        return ""
    return local_time(moment, getattr(location, "time_zone", "") or "")


def local_time(moment: datetime, time_zone: str) -> str:
    if not time_zone:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M %Z")


def person_name(person: Any) -> str:
    if person is None:
        return ""
    return f"{person.last_name}, {person.first_name}"


def user_name(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _reason_label(code: str) -> str:
    """The reason's label (Follow-up), not its code (follow_up); free text stays as typed."""
    return BookReason(code).label if code in BookReason.values else code


PATIENT_ID = Column("Patient id", lambda r: r.patient_id or "")
PATIENT_NAME = Column("Patient", lambda r: person_name(r.patient), phi=True)

APPOINTMENT_COLUMNS = [
    Column("Appointment", lambda r: r.pk),
    Column("Created", lambda r: fmt_time(r.created_at, r.location)),
    Column("Start", lambda r: fmt_time(r.start, r.location)),
    Column("Location", lambda r: r.location.name),
    Column("Provider", lambda r: str(r.provider)),
    Column("Type", lambda r: r.appointment_type.name),
    Column("Status", lambda r: r.get_status_display()),
    Column("Channel", lambda r: r.get_channel_display()),
    Column("Booked by", lambda r: user_name(r.booked_by)),
    Column("Cancel reason", lambda r: r.get_cancel_reason_display() if r.cancel_reason else ""),
    Column("Rescheduled from", lambda r: r.rescheduled_from_id or ""),
    PATIENT_ID,
    PATIENT_NAME,
]

CALL_COLUMNS = [
    Column("Call", lambda r: r.pk),
    Column("Started", lambda r: fmt_time(r.started_at)),
    Column("Agent", lambda r: user_name(r.agent)),
    Column("Reason", lambda r: _reason_label(r.reason)),
    Column("Outcome", lambda r: r.get_outcome_display() if r.outcome else "Open (in progress)"),
    Column(
        "Handle time (s)",
        lambda r: round(r.ended_at.timestamp() - r.started_at.timestamp()) if r.ended_at else "",
    ),
    PATIENT_ID,
    PATIENT_NAME,
]


def _appointments(qs: QuerySet[Appointment]) -> QuerySet[Appointment]:
    return qs.select_related(
        "location", "provider", "appointment_type", "booked_by", "patient"
    ).order_by("-created_at", "-pk")


def _calls(qs: QuerySet[Call]) -> QuerySet[Call]:
    return qs.select_related("agent", "patient").order_by("-started_at", "-pk")


def _bookings(f: KpiFilters, params: dict[str, int]) -> QuerySet[Appointment]:
    qs = appointments_scoped(f).filter(in_period("created_at", f), booking_q())
    if "channel" in params:
        qs = qs.filter(channel=Appointment.Channel.values[params["channel"]])
    return _appointments(qs)


def _automated(f: KpiFilters, _: dict[str, int]) -> QuerySet[Appointment]:
    return _bookings(f, _).filter(channel__in=AUTOMATED_CHANNELS)


def _calls_in_period(f: KpiFilters, _: dict[str, int]) -> QuerySet[Call]:
    return _calls(calls_scoped(f).filter(in_period("started_at", f)))


def _fcr_callbacks(f: KpiFilters, _: dict[str, int]) -> QuerySet[Call]:
    return _calls(
        calls_scoped(f)
        .filter(in_period("started_at", f), FCR_ELIGIBLE)
        .filter(Q(callback_exists()) | Q(outcome__in=UNRESOLVED_OUTCOMES))
        .annotate(handle=CALL_DURATION)
    )


def _holds(f: KpiFilters, _: dict[str, int]) -> QuerySet[Hold]:
    return (
        holds_scoped(f)
        .filter(in_period("created_at", f))
        .select_related("slot__location", "slot__provider", "held_by")
        .order_by("-created_at", "-pk")
    )


def _created(f: KpiFilters) -> QuerySet[Appointment]:
    return appointments_scoped(f).filter(in_period("created_at", f), booking_q())


def _wrong_location(f: KpiFilters, _: dict[str, int]) -> QuerySet[Appointment]:
    return _appointments(_created(f).filter(wrong_location_q(f.accuracy_days)))


def _mismatch(f: KpiFilters, _: dict[str, int]) -> QuerySet[Appointment]:
    return _appointments(with_mismatch_flags(_created(f)).filter(MISMATCH_Q))


def _mismatch_reasons(row: Any) -> str:
    reasons = [
        label
        for flag, label in (
            ("age_mismatch", "age outside provider's range"),
            ("language_mismatch", "no shared language"),
            ("wrong_provider", "cancelled as wrong provider"),
        )
        if getattr(row, flag, 0)
    ]
    return "; ".join(reasons)


def _by_status(status: str) -> Callable[[KpiFilters, dict[str, int]], QuerySet[Appointment]]:
    def rows(f: KpiFilters, _: dict[str, int]) -> QuerySet[Appointment]:
        return _appointments(
            appointments_scoped(f).filter(in_period("start", f), status=status)
        ).order_by("-start", "-pk")

    return rows


def _booked_slots(f: KpiFilters, params: dict[str, int]) -> QuerySet[Slot]:
    qs = slots_scoped(f).filter(in_period("start", f))
    if params.get("provider"):
        qs = qs.filter(provider_id=params["provider"])
    return qs.select_related("location", "provider").order_by("start", "pk")


def _upcoming_slots(f: KpiFilters, params: dict[str, int]) -> QuerySet[Slot]:
    """The slots behind schedule fill: bookable, from now through the fill window."""
    start, end = schedule_fill_window()
    qs = slots_scoped(f).filter(start__gte=start, start__lt=end)
    return qs.select_related("location", "provider").order_by("start", "pk")


def _free_slots(f: KpiFilters, params: dict[str, int]) -> QuerySet[Slot]:
    """The free slots behind a third-next-available figure: from now on, at one location."""
    qs = Slot.objects.filter(status=Slot.Status.FREE, start__gte=timezone.now())
    if f.location_id:
        qs = qs.filter(location_id=f.location_id)
    if f.region_id:
        qs = qs.filter(location__region_id=f.region_id)
    if f.appointment_type_id:
        types = list(AppointmentType.objects.filter(pk=f.appointment_type_id))
        capable = capable_providers(types).get(f.appointment_type_id, set())
        qs = qs.filter(provider_id__in=sorted(capable))
    return qs.select_related("location", "provider").order_by("start", "pk")


def _waitlist(f: KpiFilters, _: dict[str, int]) -> QuerySet[Waitlist]:
    return (
        waitlist_scoped(f)
        .filter(in_period("created_at", f))
        .select_related("appointment_type", "patient", "created_by")
        .order_by("-created_at", "-pk")
    )


SLOT_COLUMNS = [
    Column("Slot", lambda r: r.pk),
    Column("Start", lambda r: fmt_time(r.start, r.location)),
    Column("Location", lambda r: r.location.name),
    Column("Provider", lambda r: str(r.provider)),
    Column("Status", lambda r: r.get_status_display()),
]


def _appointment_drill(title: str, what: str, rows: Any) -> Drill:
    return Drill(title, what, rows, APPOINTMENT_COLUMNS, patient_id=lambda r: r.patient_id)


def _call_drill(title: str, what: str, rows: Any) -> Drill:
    return Drill(title, what, rows, CALL_COLUMNS, patient_id=lambda r: r.patient_id)


_DRILLS: dict[str, Drill] = {
    "calls": _call_drill("Calls", "Calls started in the period.", _calls_in_period),
    "fcr_callbacks": _call_drill(
        "Calls not resolved first time",
        "Calls wrapped up as transferred or needing a callback, or followed within 7 days by "
        "another call from the same patient with the same reason: the ones that pull "
        "first-call resolution down.",
        _fcr_callbacks,
    ),
    "bookings": _appointment_drill("Bookings", "Appointments created in the period.", _bookings),
    "automated_bookings": _appointment_drill(
        "Automated bookings", "Bookings made by API, FHIR, self-service or location.", _automated
    ),
    "holds": Drill(
        "Holds",
        "Holds placed in the period.",
        _holds,
        [
            Column("Hold", lambda r: r.pk),
            Column("Placed", lambda r: fmt_time(r.created_at, r.slot.location)),
            Column("Agent", lambda r: user_name(r.held_by)),
            Column("Location", lambda r: r.slot.location.name),
            Column("Provider", lambda r: str(r.slot.provider)),
            Column("Slot start", lambda r: fmt_time(r.slot.start, r.slot.location)),
            Column(
                "Outcome",
                lambda r: (
                    "Booked"
                    if r.consumed_at
                    else "Released"
                    if r.released_at
                    else "Expired"
                    if r.expires_at <= timezone.now()
                    else "Live"
                ),
            ),
        ],
    ),
    "wrong_location": _appointment_drill(
        "Wrong-location bookings",
        "Bookings moved to another location or cancelled as wrong location/provider.",
        _wrong_location,
    ),
    "mismatch": Drill(
        "Provider-patient mismatches",
        "Age outside the provider's range, no shared language, or cancelled as wrong provider.",
        _mismatch,
        [Column("Why", _mismatch_reasons), *APPOINTMENT_COLUMNS],
        patient_id=lambda r: r.patient_id,
    ),
    "rescheduled": _appointment_drill(
        "Rescheduled appointments", "Scheduled in the period.", _by_status("rescheduled")
    ),
    "cancelled": _appointment_drill(
        "Cancelled appointments", "Scheduled in the period.", _by_status("cancelled")
    ),
    "no_show": _appointment_drill("No-shows", "Scheduled in the period.", _by_status("no_show")),
    "booked_slots": Drill(
        "Slots", "Bookable slots starting in the period.", _booked_slots, SLOT_COLUMNS
    ),
    "upcoming_slots": Drill(
        "Upcoming slots",
        f"Bookable slots starting from now through the next {SCHEDULE_FILL_DAYS} days.",
        _upcoming_slots,
        SLOT_COLUMNS,
    ),
    "free_slots": Drill(
        "Next free slots",
        "Free slots from now on with a provider able to do the appointment type.",
        _free_slots,
        SLOT_COLUMNS,
    ),
    "waitlist": Drill(
        "Waitlist entries",
        "Entries created in the period.",
        _waitlist,
        [
            Column("Entry", lambda r: r.pk),
            Column("Created", lambda r: fmt_time(r.created_at)),
            Column("Type", lambda r: r.appointment_type.name),
            Column("Window", lambda r: f"{r.earliest} to {r.latest}"),
            Column("Status", lambda r: r.get_status_display()),
            Column("Added by", lambda r: user_name(r.created_by)),
            PATIENT_ID,
            PATIENT_NAME,
        ],
        patient_id=lambda r: r.patient_id,
    ),
}

for _key, _drill in _DRILLS.items():
    drill_register(_key, _drill)

# Extra ids a drill-down accepts besides the filter bar (opaque ids only; "channel" is the
# position of a booking channel in Appointment.Channel).
DRILL_PARAMS = ("provider", "payer", "connector", "channel", "reason", "hub", "state")


def channel_param(channel: str) -> int:
    return list(Appointment.Channel.values).index(channel)


def visible_columns(drill: Drill, show_phi: bool) -> list[Column]:
    return [c for c in drill.columns if show_phi or not c.phi]
