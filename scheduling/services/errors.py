"""Errors people read. Views and the API map ``status_code`` to the HTTP answer and show
``message`` (constant, asserted on by tests); ``details`` carries rule reasons.
"""

from __future__ import annotations

from typing import ClassVar


class SchedulingError(Exception):
    message: ClassVar[str] = "The schedule could not be changed."
    status_code: ClassVar[int] = 409

    def __init__(self, *details: str) -> None:
        self.details = list(details)
        super().__init__(self.message)


class SlotUnavailable(SchedulingError):
    message = "This slot is no longer available."


class SlotHeld(SlotUnavailable):
    message = "This slot is held by another agent."


class RoomUnavailable(SlotUnavailable):
    message = "No suitably equipped room is free at that time."


class SlotInPast(SchedulingError):
    message = "This slot is in the past."
    status_code = 400


class SlotWrongFit(SchedulingError):
    message = "This slot does not fit this appointment type."
    status_code = 400


class RuleViolation(SchedulingError):
    message = "The scheduling rules exclude this booking."


class HoldExpired(SchedulingError):
    message = "This hold has expired or was released; hold the slot again."


class HoldNotYours(SchedulingError):
    message = "This hold belongs to another agent."
    status_code = 403


class NetworkOverrideNotAllowed(SchedulingError):
    message = "You are not allowed to book out of network."
    status_code = 403


class AppointmentNotActive(SchedulingError):
    message = "Only a booked appointment can be changed."


class AppointmentNotStarted(SchedulingError):
    message = "An appointment can be marked a no-show only after it was due to start."


class PatientMerged(SchedulingError):
    message = "This patient record was merged into another; book on the surviving record."
    status_code = 400


class InvalidReason(SchedulingError):
    message = "Choose a reason from the list."
    status_code = 400


class InvalidExternalStatus(SchedulingError):
    message = "A location system can set an appointment to booked, arrived or completed."
    status_code = 400


class CallNotYours(SchedulingError):
    message = "This call belongs to another agent."
    status_code = 403


class CallAlreadyEnded(SchedulingError):
    message = "This call has already been wrapped up."


class CallbackTaken(SchedulingError):
    message = "This callback has already been returned."


class InvalidOutcome(SchedulingError):
    message = "Choose a call outcome from the list."
    status_code = 400


class WaitlistWindowInvalid(SchedulingError):
    message = "The waitlist window must end on or after it starts, and not in the past."
    status_code = 400


class InvalidTimeOfDay(SchedulingError):
    message = "Choose a time of day from the list."
    status_code = 400


class PatientNotFound(SchedulingError):
    """Also the answer for a patient outside the agent's region: scope never confirms
    that a record exists."""

    message = "No such patient."
    status_code = 404


class AppointmentNotFound(SchedulingError):
    message = "No such appointment."
    status_code = 404


class WidenNeedsCall(SchedulingError):
    message = (
        "Opening a patient outside your region is tied to a call: start the call "
        "with this patient on the line first."
    )
    status_code = 400


class WidenReasonMissing(SchedulingError):
    message = "Say why you need this patient's record (at least 10 characters)."
    status_code = 400


class OverbookNotAllowed(SchedulingError):
    message = "You are not allowed to overbook."
    status_code = 403


class OverbookReasonMissing(SchedulingError):
    message = "Say why this slot must be double-booked."
    status_code = 400


class OverbookNeedsBookedSlot(SchedulingError):
    message = "Only a booked slot can be overbooked; book a free slot the usual way."
    status_code = 400


class OverbookLimitReached(SchedulingError):
    message = "This provider has reached the day's overbooking limit."


class SlotAlreadyOverbooked(SlotUnavailable):
    message = "This slot is already overbooked."


class AssistantUnavailable(SlotUnavailable):
    message = "No second staff member with the skill this visit needs is free for the whole visit."


class EquipmentUnavailable(SlotUnavailable):
    message = "The mobile equipment this visit needs is booked or does not serve this location."


class ResourceBusy(SchedulingError):
    message = "The room or equipment is already booked at that time."


class InvalidBlock(SchedulingError):
    message = (
        "A block needs one room or one piece of mobile equipment, a reason, and an end "
        "after its start."
    )
    status_code = 400
