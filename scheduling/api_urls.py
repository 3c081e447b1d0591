"""This app's part of /api/v1/. DRF views here authenticate themselves (Bearer or session),
so they are wrapped in login_not_required and keep IsAuthenticated plus the agent role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, path
from rest_framework.views import APIView

from . import api


def _view(cls: type[APIView]) -> Callable[..., Any]:
    return login_not_required(cls.as_view())


urlpatterns: list[URLPattern] = [
    path("slots/search/", _view(api.SlotSearchView), name="api-slot-search"),
    path(
        "slots/<int:slot_id>/waitlist-matches/",
        _view(api.WaitlistMatchesView),
        name="api-slot-waitlist-matches",
    ),
    path("holds/", _view(api.HoldCreateView), name="api-hold-create"),
    path("holds/<int:hold_id>/release/", _view(api.HoldReleaseView), name="api-hold-release"),
    path("appointments/", _view(api.AppointmentBookView), name="api-appointment-book"),
    path(
        "appointments/overbook/",
        _view(api.AppointmentOverbookView),
        name="api-appointment-overbook",
    ),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        _view(api.AppointmentRescheduleView),
        name="api-appointment-reschedule",
    ),
    path(
        "appointments/<int:appointment_id>/cancel/",
        _view(api.AppointmentCancelView),
        name="api-appointment-cancel",
    ),
    path("waitlist/", _view(api.WaitlistAddView), name="api-waitlist-add"),
    path("calls/", _view(api.CallStartView), name="api-call-start"),
    path("calls/<int:call_id>/wrap-up/", _view(api.CallWrapUpView), name="api-call-wrap-up"),
    path("patients/", _view(api.PatientRegisterView), name="api-patients"),
    path("patients/search/", _view(api.PatientSearchView), name="api-patient-search"),
    path(
        "patients/<int:patient_id>/widen/",
        _view(api.AccessWidenView),
        name="api-patient-widen",
    ),
    path(
        "patients/<int:patient_id>/context/",
        _view(api.PatientContextView),
        name="api-patient-context",
    ),
]
