"""What every console view shares: answering with panels or a redirect, refusing with a
constant message, and the objects the session state points at (each re-read and checked
to belong to this agent or to the open patient)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from config.compiled import Compiled, stand_in_id
from patients.models import Patient
from patients.selectors import patient_with_home
from scheduling import services
from scheduling.models import Appointment, AppointmentType, Call, CallReason, Hold, Slot
from scheduling.selectors import agent_live_hold, agent_open_call, slot_network_reasons

from ..readmodel import Panels
from ..requests import AgentRequest, read_once
from ..state import ConsoleState


def respond(
    request: AgentRequest,
    state: ConsoleState,
    *names: str,
    message: str = "",
    level: int = messages.INFO,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    """Render the changed panels for htmx, or redirect back to the page for plain HTML."""
    if not request.htmx:
        state.save(request.session)
        if message:
            messages.add_message(request, level, message)
        return redirect("console:home")
    panels = Panels(request, state)
    panels.extra.update(extra)
    if message:
        panels.extra["flash_message"] = message
        panels.extra["flash_level"] = "error" if level >= messages.WARNING else "info"
    return panels.render(*names, status=status)


def refuse(
    request: AgentRequest,
    state: ConsoleState,
    *names: str,
    message: str,
    status: int,
    **extra: Any,
) -> HttpResponse:
    """Turn the request down: a constant message shown as an error, with its HTTP status."""
    return respond(
        request, state, *names, message=message, level=messages.ERROR, status=status, **extra
    )


def current_call(request: AgentRequest, state: ConsoleState) -> Call | None:
    if not state.call_id:
        return None
    reads = read_once(request)
    key = (Call, state.call_id)
    if key not in reads:
        reads[key] = _open_call.first(call_id=state.call_id, agent_id=request.user.pk)
    call = reads[key]
    if call is None:
        state.call_id = None
    return call


def service_error(
    request: AgentRequest, state: ConsoleState, exc: Exception, *names: str
) -> HttpResponse:
    """A service refused: show its constant message (and rule reasons) in the page."""
    message = str(exc)
    details = getattr(exc, "details", None)
    if details:
        message = f"{message} {' '.join(details)}"
    status = getattr(exc, "status_code", 409)
    return refuse(request, state, *(names or ("flash",)), message=message, status=status)


def open_patient(request: AgentRequest, state: ConsoleState) -> Patient | None:
    """The patient whose context is open, read once per request."""
    if not state.patient_id:
        return None
    reads = read_once(request)
    key = (Patient, state.patient_id)
    if key not in reads:
        reads[key] = patient_with_home(patient_id=state.patient_id)
    patient: Patient | None = reads[key]
    return patient


def own_hold(request: AgentRequest, state: ConsoleState) -> Hold | None:
    """The hold this console placed; the service still checks it is live and the agent's."""
    if not state.hold_id:
        return None
    return _own_hold.first(hold_id=state.hold_id, user_id=request.user.pk)


def own_appointment(state: ConsoleState, appointment_id: int) -> Appointment | None:
    """Appointments are acted on only for the patient whose context is open."""
    return (
        Appointment.objects.select_related("location", "provider", "appointment_type")
        .filter(pk=appointment_id, patient_id=state.patient_id or 0)
        .first()
    )


def hold_network_note(
    request: AgentRequest, state: ConsoleState, slot: Slot, appointment_type: AppointmentType | None
) -> str:
    """Why the held slot is out of network for the patient's plan, once per hold, so the
    hold panel asks for the override reason only when one is needed."""
    patient = open_patient(request, state)
    if patient is None or appointment_type is None:
        return ""
    reasons = slot_network_reasons(
        patient=patient, appointment_type=appointment_type, slot=slot, now=timezone.now()
    )
    return "; ".join(reasons)


def recover_open_work(request: AgentRequest, state: ConsoleState) -> str:
    """Find the agent's open call and live hold again when the session has lost them (a
    new login, an expired session, another browser): the call stays theirs to wrap up
    and the hold theirs to book or release. Returns what to tell the agent ("" when
    nothing was missing)."""
    found = []
    if current_call(request, state) is None:
        call = agent_open_call(user=request.user)
        if call is not None:
            state.clear_call()
            state.call_id = call.pk
            if call.patient_id is not None:
                state.opened(call.patient_id)
            # What the call booked or moved, for the wrap-up's prefill.
            for moved_from, reason in call.appointments.values_list(
                "rescheduled_from_id", "book_reason"
            ).order_by("created_at"):
                if moved_from is None:
                    state.did(Call.Outcome.BOOKED, reason)
                else:
                    state.did(Call.Outcome.RESCHEDULED, CallReason.RESCHEDULE)
            found.append("your open call")
    # A series being planned holds many slots; none of them is a lone hold to book.
    if not state.series and (state.hold_id is None or own_hold(request, state) is None):
        hold = agent_live_hold(
            user=request.user, now=timezone.now(), call=current_call(request, state)
        )
        if hold is not None:
            state.hold_id = hold.pk
            state.appointment_type_id = hold.appointment_type_id
            state.hold_network_note = hold_network_note(
                request, state, hold.slot, hold.appointment_type
            )
            found.append("its held slot" if found else "your held slot")
    return f"Found {' and '.join(found)} again." if found else ""


def attach_patient_to_call(request: AgentRequest, state: ConsoleState) -> None:
    """The call record names the patient it turned out to be about (for FCR by patient)."""
    call = current_call(request, state)
    patient = open_patient(request, state)
    if call is not None and patient is not None:
        services.call_attach_patient(call=call, patient=patient, by=request.user)


# The rows the session points at are read on most console requests: each read is compiled
# once per connection (config.compiled). The same querysets, in .first()'s order.
_open_call: Compiled[Call] = Compiled(
    lambda call_id, agent_id: Call.objects.filter(
        pk=call_id, agent_id=agent_id, ended_at__isnull=True
    ).order_by("pk")[:1],
    call_id=stand_in_id(),
    agent_id=stand_in_id(),
)
_own_hold: Compiled[Hold] = Compiled(
    lambda hold_id, user_id: (
        Hold.objects.select_related("slot")
        .filter(pk=hold_id, held_by_id=user_id)
        .order_by("pk")[:1]
    ),
    hold_id=stand_in_id(),
    user_id=stand_in_id(),
)
