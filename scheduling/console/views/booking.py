"""Hold, book, reschedule, cancel and the waitlist, all for the patient whose context is
open; the services decide, these views show their constant messages."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_POST

from config.inputs import parse_id
from scheduling import services
from scheduling.models import (
    Appointment,
    AppointmentType,
    BookReason,
    Call,
    CallReason,
    Hold,
    Slot,
)

from .. import forms
from ..requests import AgentRequest, console_view
from ..state import ConsoleState
from .common import (
    current_call,
    hold_network_note,
    open_patient,
    own_appointment,
    own_hold,
    refuse,
    respond,
    service_error,
)

OVERRIDE_REASON_MISSING = "Booking out of network needs an override reason; nothing was booked."
MOVE_OVERRIDE_REASON_MISSING = (
    "Moving out of network needs an override reason; the appointment was not moved."
)


@require_POST
@console_view
def hold(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.HoldForm(request.POST)
    slot = (
        Slot.objects.filter(pk=form.data.get("slot_id") or 0).first() if form.is_valid() else None
    )
    if slot is None:
        return refuse(request, state, "hold", message=services.SlotUnavailable.message, status=409)
    type_id = str(
        request.POST.get("appointment_type_id") or state.finder.get("appointment_type") or ""
    )
    type_pk = parse_id(type_id)
    appointment_type = AppointmentType.objects.filter(pk=type_pk).first() if type_pk else None
    call = current_call(request, state)
    try:
        # With the type, every unit a long visit needs is held, not just the first.
        placed = services.hold_place(
            slot=slot,
            by=request.user,
            call=call,
            patient=open_patient(request, state),
            appointment_type=appointment_type,
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "hold")
    # One hold at a time per agent console: holding another slot gives the first back.
    if state.hold_id and state.hold_id != placed.pk:
        previous = Hold.objects.filter(pk=state.hold_id, held_by=request.user).first()
        if previous is not None:
            services.hold_release(hold=previous, by=request.user)
    state.hold_id = placed.pk
    state.appointment_type_id = appointment_type.pk if appointment_type else None
    state.hold_network_note = hold_network_note(request, state, slot, appointment_type)
    state.freed_slot_ids = []
    return respond(request, state, "hold")


@require_POST
@console_view
def release(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    held = Hold.objects.filter(pk=state.hold_id or 0, held_by=request.user).first()
    if held is not None:
        services.hold_release(hold=held, by=request.user)
    state.hold_id = None
    return respond(request, state, "hold", message="Hold released.")


@require_POST
@console_view
def book(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.BookForm(request.POST)
    patient = open_patient(request, state)
    held = own_hold(request, state)
    appointment_type = AppointmentType.objects.filter(pk=state.appointment_type_id or 0).first()
    if patient is None or held is None or appointment_type is None:
        return refuse(request, state, "hold", message=services.HoldExpired.message, status=409)
    if not form.is_valid():
        return respond(request, state, "hold", book_form=form, status=400)
    if state.hold_network_note and not form.cleaned_data["network_override_reason"]:
        # Refused here with the reason spelled out; the service would refuse it too.
        return refuse(
            request,
            state,
            "hold",
            book_form=form,
            message=f"{OVERRIDE_REASON_MISSING} {state.hold_network_note}.",
            status=400,
        )
    try:
        booked = services.appointment_book(
            hold=held,
            patient=patient,
            appointment_type=appointment_type,
            by=request.user,
            reason=form.cleaned_data["reason"],
            call=current_call(request, state),
            network_override_reason=form.cleaned_data["network_override_reason"],
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "hold")
    state.hold_id = None
    state.hold_network_note = ""
    # The visit's booking reason is why they called (the seeded history does the same).
    state.did(Call.Outcome.BOOKED, booked.book_reason)
    return _show_booked(request, state, booked, message="Booked.")


@require_POST
@console_view
def overbook(request: AgentRequest) -> HttpResponse:
    """Double-book a booked time for the open patient, with the visit type of the last
    search; the service checks the permission, the reason, the rules and the limit."""
    state = ConsoleState.load(request.session)
    patient = open_patient(request, state)
    type_pk = parse_id(str(state.finder.get("appointment_type") or ""))
    appointment_type = AppointmentType.objects.filter(pk=type_pk).first() if type_pk else None
    slot = Slot.objects.filter(pk=parse_id(request.POST.get("slot_id") or "") or 0).first()
    if patient is None or appointment_type is None or slot is None:
        gone = services.SlotUnavailable.message
        return refuse(request, state, "finder", message=gone, status=409)
    reason = request.POST.get("reason") or ""
    if reason not in BookReason.values:
        return refuse(request, state, "finder", message=services.InvalidReason.message, status=400)
    try:
        booked = services.appointment_overbook(
            slot=slot,
            patient=patient,
            appointment_type=appointment_type,
            by=request.user,
            reason=reason,
            overbook_reason=request.POST.get("overbook_reason") or "",
            call=current_call(request, state),
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "finder")
    state.did(Call.Outcome.BOOKED, booked.book_reason)
    return _show_booked(request, state, booked, message="Overbooked.")


def _show_booked(
    request: AgentRequest,
    state: ConsoleState,
    appointment: Appointment,
    *,
    message: str,
    moved_from: Appointment | None = None,
) -> HttpResponse:
    """After a booking or a reschedule the hold is spent and the new visit shows in the
    hold panel, the patient's context, the finder and the call bar alike; a reschedule
    says so, with the time it moved from."""
    return respond(
        request,
        state,
        "hold",
        "context",
        "finder",
        "callbar",
        booked=appointment,
        moved_from=moved_from,
        message=message,
    )


@require_POST
@console_view
def reschedule_start(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.AppointmentActionForm(request.POST)
    appt = own_appointment(state, form.cleaned_data["appointment_id"]) if form.is_valid() else None
    if appt is None or not appt.is_active:
        return refuse(
            request, state, "flash", message=services.AppointmentNotActive.message, status=409
        )
    state.reschedule_id = appt.pk
    state.finder = {}
    finder_form = forms.SlotFinderForm(
        initial={
            "appointment_type": appt.appointment_type_id,
            "region": appt.location.region_id,
        }
    )
    return respond(
        request,
        state,
        "finder",
        "hold",
        "context",
        finder_form=finder_form,
        message="Pick the new slot, hold it, then confirm the reschedule.",
    )


@require_POST
@console_view
def reschedule(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.RescheduleForm(request.POST)
    if not form.is_valid():
        return refuse(request, state, "hold", message=services.InvalidReason.message, status=400)
    appt = own_appointment(state, form.cleaned_data["appointment_id"])
    held = own_hold(request, state)
    if appt is None or held is None:
        return refuse(request, state, "hold", message=services.HoldExpired.message, status=409)
    override = form.cleaned_data["network_override_reason"].strip()
    if state.hold_network_note and not override:
        # As for a booking: refused here with the reason spelled out.
        return refuse(
            request,
            state,
            "hold",
            message=f"{MOVE_OVERRIDE_REASON_MISSING} {state.hold_network_note}.",
            status=400,
        )
    try:
        moved = services.appointment_reschedule(
            appointment=appt,
            hold=held,
            by=request.user,
            reason=form.cleaned_data["reason"],
            call=current_call(request, state),
            network_override_reason=override if state.hold_network_note else "",
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "hold")
    state.hold_id = None
    state.reschedule_id = None
    state.freed_slot_ids = services.freed_slot_ids(appt)
    state.did(Call.Outcome.RESCHEDULED, CallReason.RESCHEDULE)
    return _show_booked(request, state, moved, message="Rescheduled.", moved_from=appt)


@require_POST
@console_view
def cancel(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.CancelForm(request.POST)
    if not form.is_valid():
        return refuse(request, state, "flash", message=services.InvalidReason.message, status=400)
    appt = own_appointment(state, form.cleaned_data["appointment_id"])
    if appt is None:
        return refuse(
            request, state, "flash", message=services.AppointmentNotActive.message, status=409
        )
    try:
        services.appointment_cancel(
            appointment=appt,
            by=request.user,
            reason=form.cleaned_data["reason"],
            call=current_call(request, state),
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "context")
    if state.reschedule_id == appt.pk:
        state.reschedule_id = None
    state.freed_slot_ids = services.freed_slot_ids(appt)
    state.did(Call.Outcome.CANCELLED, CallReason.CANCEL)
    return respond(
        request,
        state,
        "context",
        "hold",
        "callbar",
        message="Appointment cancelled.",
    )


@require_POST
@console_view
def waitlist_add(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    patient = open_patient(request, state)
    form = forms.WaitlistForm(request.POST, prefix="wl")
    if patient is None:
        return respond(request, state, "flash", message="Open a patient first.", status=409)
    if not form.is_valid():
        return respond(request, state, "context", waitlist_form=form, status=400)
    data = form.cleaned_data
    try:
        services.waitlist_add(
            patient=patient,
            appointment_type=data["appointment_type"],
            by=request.user,
            earliest=data["earliest"],
            latest=data["latest"],
            time_of_day=data["time_of_day"] or "any",
            locations=data["locations"],
            notes=data["notes"],
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "context")
    return respond(request, state, "context", message="Added to the waitlist.")
