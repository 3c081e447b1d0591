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
from .hubs import AgentPresence, Hub, HubCall, HubLine, HubRegion, Presence, RoutingDecision
from .network import (
    AppointmentType,
    Capability,
    Equipment,
    Location,
    LocationClosure,
    LocationHours,
    Provider,
    ProviderLicense,
    Region,
    Room,
    ScheduleTemplate,
    TimeOff,
    Weekday,
)
from .rebooking import RebookingItem
from .recall import RecallOutreach, RecallRule
from .referrals import Referral
from .resources import MobileEquipment, ResourceBooking
from .staff import AccessWiden, AgentProfile, ConsolePermissions, RuleSetting

__all__ = [
    "AccessWiden",
    "AgentPresence",
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
    "Hub",
    "HubCall",
    "HubLine",
    "HubRegion",
    "Location",
    "LocationClosure",
    "LocationHours",
    "MobileEquipment",
    "PatientMessage",
    "Presence",
    "Provider",
    "ProviderLicense",
    "RebookingItem",
    "RecallOutreach",
    "RecallRule",
    "Referral",
    "Region",
    "ReminderCadence",
    "ReplyReview",
    "ResourceBooking",
    "Room",
    "RoutingDecision",
    "RuleSetting",
    "ScheduleTemplate",
    "SelfServiceCode",
    "Slot",
    "TimeOff",
    "Waitlist",
    "WaitlistOffer",
    "Weekday",
]
