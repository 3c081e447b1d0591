"""A recurring series from the held slot: plan every occurrence with holds, accept,
adjust or skip each, then book them all in one action. The plan lives in the session
(ids and times only) and shows in the hold panel."""

from __future__ import annotations

import zoneinfo

from django.http import HttpResponse
from django.views.decorators.http import require_POST

from scheduling import services
from scheduling.models import AppointmentType, Call, CallReason, Slot
from scheduling.recurrence import RecurrenceError, series_rrule

from .. import forms as base_forms
from .. import forms_series as forms
from ..requests import AgentRequest, console_view
from ..state import ConsoleState
from .common import (
    current_call,
    open_patient,
    own_appointment,
    own_hold,
    refuse,
    respond,
    service_error,
)

NO_PLAN = "No series is being planned; hold the first visit's slot and set up the series."
NO_SUCH_START = "There is no free slot at that time at this location."


def _plan(state: ConsoleState) -> services.SeriesPlan | None:
    return services.SeriesPlan.from_dict(state.series) if state.series else None


@require_POST
@console_view
def series_plan(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.SeriesForm(request.POST, prefix="series")
    patient = open_patient(request, state)
    held = own_hold(request, state)
    visit = AppointmentType.objects.filter(pk=state.appointment_type_id or 0).first()
    if patient is None or held is None or visit is None:
        return refuse(request, state, "hold", message=services.HoldExpired.message, status=409)
    if not form.is_valid():
        return respond(request, state, "hold", series_form=form, status=400)
    first = Slot.objects.select_related("location", "provider").get(pk=held.slot_id)
    data = form.cleaned_data
    try:
        rule = series_rrule(
            pattern=data["pattern"],
            first_local=first.location.local(first.start),
            interval=data["interval"],
            count=data["count"],
            until=data["until"],
        )
    except RecurrenceError as exc:
        return refuse(request, state, "hold", message=str(exc), status=400)
    previous = _plan(state)
    if previous is not None:
        services.series_abandon(plan=previous, by=request.user)
    plan = services.series_plan(
        patient=patient,
        appointment_type=visit,
        first_slot=first,
        rrule=rule,
        by=request.user,
        call=current_call(request, state),
    )
    # The first visit's hold now belongs to the plan.
    state.hold_id = None
    state.series = plan.to_dict()
    return respond(request, state, "hold")


@require_POST
@console_view
def series_decide(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.SeriesDecisionForm(request.POST)
    plan = _plan(state)
    if plan is None:
        return refuse(request, state, "hold", message=NO_PLAN, status=409)
    if not form.is_valid():
        return refuse(
            request, state, "hold", message=services.OccurrenceUnknown.message, status=400
        )
    try:
        services.series_decide(
            plan=plan,
            number=form.cleaned_data["number"],
            decision=form.cleaned_data["decision"],
            by=request.user,
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "hold")
    state.series = plan.to_dict()
    return respond(request, state, "hold")


@require_POST
@console_view
def series_adjust(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.SeriesAdjustForm(request.POST)
    plan = _plan(state)
    patient = open_patient(request, state)
    if plan is None or patient is None or plan.patient_id != patient.pk:
        return refuse(request, state, "hold", message=NO_PLAN, status=409)
    if not form.is_valid():
        return refuse(request, state, "hold", message=NO_SUCH_START, status=400)
    # Typed as the location's wall clock, whatever zone the form parsed it in.
    wall = form.cleaned_data["start"].replace(tzinfo=None)
    start = wall.replace(tzinfo=zoneinfo.ZoneInfo(plan.time_zone))
    slots = Slot.objects.select_related("provider").filter(
        location_id=plan.location_id, start=start, status=Slot.Status.FREE
    )
    # The series' provider first, then anyone free at the location then.
    slot = slots.filter(provider_id=plan.provider_id).first() or slots.first()
    if slot is None:
        return refuse(request, state, "hold", message=NO_SUCH_START, status=409)
    try:
        services.series_adjust(
            plan=plan,
            number=form.cleaned_data["number"],
            slot=slot,
            patient=patient,
            appointment_type=AppointmentType.objects.get(pk=plan.appointment_type_id),
            by=request.user,
            call=current_call(request, state),
        )
    except services.SchedulingError as exc:
        # The occurrence kept its previous hold, or lost it when that went meanwhile.
        state.series = plan.to_dict()
        return service_error(request, state, exc, "hold")
    state.series = plan.to_dict()
    return respond(request, state, "hold")


@require_POST
@console_view
def series_book(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.SeriesBookForm(request.POST, prefix="series")
    plan = _plan(state)
    patient = open_patient(request, state)
    if plan is None or patient is None or plan.patient_id != patient.pk:
        return refuse(request, state, "hold", message=NO_PLAN, status=409)
    if not form.is_valid():
        return refuse(request, state, "hold", message=services.InvalidReason.message, status=400)
    try:
        series = services.series_book(
            plan=plan,
            patient=patient,
            appointment_type=AppointmentType.objects.get(pk=plan.appointment_type_id),
            by=request.user,
            reason=form.cleaned_data["reason"],
            call=current_call(request, state),
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "hold")
    state.series = {}
    state.did(Call.Outcome.BOOKED, form.cleaned_data["reason"])
    count = series.appointments.count()
    return respond(
        request,
        state,
        "hold",
        "context",
        "callbar",
        booked_series=series,
        message=f"Series booked: {count} visits.",
    )


@require_POST
@console_view
def series_abandon(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    plan = _plan(state)
    if plan is not None:
        services.series_abandon(plan=plan, by=request.user)
    state.series = {}
    return respond(request, state, "hold", message="Series dropped; its holds were released.")


@require_POST
@console_view
def series_cancel(request: AgentRequest) -> HttpResponse:
    """Cancel an occurrence of the open patient's series and every later one."""
    state = ConsoleState.load(request.session)
    form = base_forms.CancelForm(request.POST)
    if not form.is_valid():
        return refuse(request, state, "flash", message=services.InvalidReason.message, status=400)
    appt = own_appointment(state, form.cleaned_data["appointment_id"])
    if appt is None:
        return refuse(
            request, state, "flash", message=services.AppointmentNotActive.message, status=409
        )
    try:
        cancelled = services.series_cancel(
            appointment=appt,
            by=request.user,
            reason=form.cleaned_data["reason"],
            following=True,
            call=current_call(request, state),
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "context")
    state.did(Call.Outcome.CANCELLED, CallReason.CANCEL)
    return respond(
        request,
        state,
        "context",
        "hold",
        "callbar",
        message=f"Cancelled {len(cancelled)} visits of the series.",
    )


@require_POST
@console_view
def series_move(request: AgentRequest) -> HttpResponse:
    """Move the occurrence being rescheduled to the held slot, and every later one of
    its series by the same step."""
    state = ConsoleState.load(request.session)
    form = base_forms.RescheduleForm(request.POST)
    if not form.is_valid():
        return refuse(request, state, "hold", message=services.InvalidReason.message, status=400)
    appt = own_appointment(state, form.cleaned_data["appointment_id"])
    held = own_hold(request, state)
    if appt is None or held is None:
        return refuse(request, state, "hold", message=services.HoldExpired.message, status=409)
    try:
        moved = services.series_move_following(
            appointment=appt,
            slot=Slot.objects.select_related("location").get(pk=held.slot_id),
            by=request.user,
            reason=form.cleaned_data["reason"],
            call=current_call(request, state),
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "hold")
    state.hold_id = None
    state.reschedule_id = None
    state.did(Call.Outcome.RESCHEDULED, CallReason.RESCHEDULE)
    return respond(
        request,
        state,
        "hold",
        "context",
        "finder",
        "callbar",
        message=f"Moved {len(moved)} visits of the series.",
    )
