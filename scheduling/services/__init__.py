"""Writes for scheduling. Every function here is atomic and keyword-only.

The package is split by what changes (holds, agents' bookings, the locations' own
bookings one by one and in batches, calls, the waitlist, the slot grid); callers import
every public name from ``scheduling.services``.

Lock order, everywhere, so that two services never wait on each other in a circle:
appointment row -> slot rows (by start) -> hold rows -> patient row -> room rows (by id).
A front-desk booking that changes its patient locks its units before the patient
(``external_windows_lock``), so it waits on an agent's booking in the same order.
"""

from __future__ import annotations

# The waitlist matches are reads (selectors); re-exported because the contract lists
# them beside the services that free slots.
from ..selectors import waitlist_matches_for_slot, waitlist_matches_for_slots
from .access import access_widen
from .agents import agent_shortcuts_set
from .appointments import (
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
    freed_slot_ids,
)
from .calls import call_abandon, call_attach_patient, call_start, call_wrap_up, callback_start
from .capacity import capacity_snapshot, capacity_snapshot_due
from .errors import (
    AppointmentNotActive,
    AppointmentNotFound,
    AppointmentNotStarted,
    AssistantUnavailable,
    CallAlreadyEnded,
    CallbackTaken,
    CallNotYours,
    EquipmentUnavailable,
    HoldExpired,
    HoldNotYours,
    InvalidBlock,
    InvalidExternalStatus,
    InvalidOutcome,
    InvalidReason,
    InvalidTimeOfDay,
    NetworkOverrideNotAllowed,
    OverbookLimitReached,
    OverbookNeedsBookedSlot,
    OverbookNotAllowed,
    OverbookReasonMissing,
    PatientMerged,
    PatientNotFound,
    ResourceBusy,
    RoomUnavailable,
    RuleViolation,
    SchedulingError,
    SlotAlreadyOverbooked,
    SlotHeld,
    SlotInPast,
    SlotUnavailable,
    SlotWrongFit,
    WaitlistWindowInvalid,
    WidenNeedsCall,
    WidenReasonMissing,
)
from .external import (
    EXTERNAL_STATUS_EVENTS,
    appointment_cancel_external,
    appointment_mark_no_show,
    appointment_record_external,
    appointment_update_external,
    external_windows_lock,
)
from .external_bookings import BatchDeclined, ExternalBooking, appointments_record_external_batch
from .external_changes import ExternalChange, appointments_change_external_batch
from .holds import hold_expire_stale, hold_place, hold_release, hold_release_for_call
from .hubs import (
    hub_call_event_apply,
    hub_dispatch,
    hub_queue_sweep,
    presence_set,
    presence_wrap_done,
)
from .overbook import appointment_overbook, overbookings_on_day
from .referrals import (
    ReferralNotOpen,
    ReferralRecord,
    referral_close,
    referral_create,
    referral_receive,
    referrals_answer,
)
from .resources import resource_block_cancel, resource_block_create
from .slots import MaterializeResult, slots_materialize
from .waitlist import waitlist_add, waitlist_close, waitlist_fill, waitlist_offer

__all__ = [
    "EXTERNAL_STATUS_EVENTS",
    "AppointmentNotActive",
    "AppointmentNotFound",
    "AppointmentNotStarted",
    "AssistantUnavailable",
    "BatchDeclined",
    "CallAlreadyEnded",
    "CallNotYours",
    "CallbackTaken",
    "EquipmentUnavailable",
    "ExternalBooking",
    "ExternalChange",
    "HoldExpired",
    "HoldNotYours",
    "InvalidBlock",
    "InvalidExternalStatus",
    "InvalidOutcome",
    "InvalidReason",
    "InvalidTimeOfDay",
    "MaterializeResult",
    "NetworkOverrideNotAllowed",
    "OverbookLimitReached",
    "OverbookNeedsBookedSlot",
    "OverbookNotAllowed",
    "OverbookReasonMissing",
    "PatientMerged",
    "PatientNotFound",
    "ReferralNotOpen",
    "ReferralRecord",
    "ResourceBusy",
    "RoomUnavailable",
    "RuleViolation",
    "SchedulingError",
    "SlotAlreadyOverbooked",
    "SlotHeld",
    "SlotInPast",
    "SlotUnavailable",
    "SlotWrongFit",
    "WaitlistWindowInvalid",
    "WidenNeedsCall",
    "WidenReasonMissing",
    "access_widen",
    "agent_shortcuts_set",
    "appointment_book",
    "appointment_cancel",
    "appointment_cancel_external",
    "appointment_mark_no_show",
    "appointment_overbook",
    "appointment_record_external",
    "appointment_reschedule",
    "appointment_update_external",
    "appointments_change_external_batch",
    "appointments_record_external_batch",
    "call_abandon",
    "call_attach_patient",
    "call_start",
    "call_wrap_up",
    "callback_start",
    "capacity_snapshot",
    "capacity_snapshot_due",
    "external_windows_lock",
    "freed_slot_ids",
    "hold_expire_stale",
    "hold_place",
    "hold_release",
    "hold_release_for_call",
    "hub_call_event_apply",
    "hub_dispatch",
    "hub_queue_sweep",
    "overbookings_on_day",
    "presence_set",
    "presence_wrap_done",
    "referral_close",
    "referral_create",
    "referral_receive",
    "referrals_answer",
    "resource_block_cancel",
    "resource_block_create",
    "slots_materialize",
    "waitlist_add",
    "waitlist_close",
    "waitlist_fill",
    "waitlist_matches_for_slot",
    "waitlist_matches_for_slots",
    "waitlist_offer",
]
