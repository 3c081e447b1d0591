"""Scheduling's models, one module per area; Django and the rest of the code import them
from here."""

from __future__ import annotations

from .booking import (
    Appointment,
    AppointmentSlot,
    BookReason,
    Call,
    CallReason,
    CancelReason,
    Hold,
    Slot,
    Waitlist,
)
from .callbacks import Callback
from .capacity import CapacityDay
from .engagement import (
    Channel,
    PatientMessage,
    ReminderCadence,
    ReplyReview,
    SelfServiceCode,
    WaitlistOffer,
)
from .network import (
    AppointmentType,
    Capability,
    Equipment,
    Location,
    LocationClosure,
    LocationHours,
    Provider,
    Region,
    Room,
    ScheduleTemplate,
    TimeOff,
    Weekday,
)
from .staff import AccessWiden, AgentProfile, ConsolePermissions, RuleSetting

__all__ = [
    "AccessWiden",
    "AgentProfile",
    "Appointment",
    "AppointmentSlot",
    "AppointmentType",
    "BookReason",
    "Call",
    "CallReason",
    "Callback",
    "CancelReason",
    "Capability",
    "CapacityDay",
    "Channel",
    "ConsolePermissions",
    "Equipment",
    "Hold",
    "Location",
    "LocationClosure",
    "LocationHours",
    "PatientMessage",
    "Provider",
    "Region",
    "ReminderCadence",
    "ReplyReview",
    "Room",
    "RuleSetting",
    "ScheduleTemplate",
    "SelfServiceCode",
    "Slot",
    "TimeOff",
    "Waitlist",
    "WaitlistOffer",
    "Weekday",
]
