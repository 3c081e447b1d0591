"""/api/v1/ scheduling endpoints: thin views over scheduling.services and selectors.

Each view validates input with its nested ``Input`` serializer (400 with field errors),
calls one service or selector, and renders with its ``Output`` serializer. Service
errors become their constant message with the status the error class carries (409 for
booking conflicts). Ids travel in POST bodies, never names or birth dates in URLs.
"""

from __future__ import annotations

from .access import AccessWidenView
from .appointments import (
    AppointmentBookView,
    AppointmentCancelView,
    AppointmentOverbookView,
    AppointmentRescheduleView,
    HoldCreateView,
    HoldReleaseView,
)
from .base import ServiceView
from .calls import CallStartView, CallWrapUpView
from .patients import PatientContextView, PatientRegisterView, PatientSearchView
from .slots import SlotSearchView
from .waitlist import WaitlistAddView, WaitlistMatchesView

__all__ = [
    "AccessWidenView",
    "AppointmentBookView",
    "AppointmentCancelView",
    "AppointmentOverbookView",
    "AppointmentRescheduleView",
    "CallStartView",
    "CallWrapUpView",
    "HoldCreateView",
    "HoldReleaseView",
    "PatientContextView",
    "PatientRegisterView",
    "PatientSearchView",
    "ServiceView",
    "SlotSearchView",
    "WaitlistAddView",
    "WaitlistMatchesView",
]
