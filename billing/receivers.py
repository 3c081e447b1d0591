"""Billing's reactions to scheduling events (scheduling never imports billing).

Receivers run inside the scheduling service's transaction: rows they write commit or
roll back with the booking. A new eligibility check is announced with
``billing.signals.eligibility_checks_requested``; the clearinghouse side sends it after
commit, so a rolled-back hold never reaches a payer and a slow payer never holds a lock.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from scheduling.signals import (
    appointment_changed,
    appointments_booked,
    appointments_changed,
    hold_placed,
)

from .eligibility import eligibility_check_for_hold, eligibility_checks_for_bookings
from .services import (
    encounter_open,
    encounter_void,
    encounters_open_batch,
    encounters_void_batch,
)


@receiver(hold_placed, dispatch_uid="billing.eligibility_on_hold")
def eligibility_on_hold(sender: Any, hold: Any, patient: Any, **_: Any) -> None:
    if patient is None:
        return
    eligibility_check_for_hold(patient_id=patient.pk)


@receiver(appointment_changed, dispatch_uid="billing.encounter_on_booking")
def encounter_on_booking(sender: Any, appointment: Any, event: str, **_: Any) -> None:
    # The PMS generates the encounter id at scheduling (booked, or the new appointment
    # of a reschedule); a cancelled visit's encounter is voided, never deleted.
    if event in {"booked", "rescheduled"}:
        # Both events announce an appointment created in the sender's transaction.
        encounter_open(appointment=appointment, new=True)
        if event == "booked":
            # Booking without a hold (API, location PMS) still deserves a fresh check.
            eligibility_check_for_hold(patient_id=appointment.patient_id, appointment=appointment)
    elif event in {"cancelled", "no_show"}:
        encounter_void(appointment=appointment)


@receiver(appointments_booked, dispatch_uid="billing.encounters_on_bookings")
def encounters_on_bookings(sender: Any, appointments: Any, **_: Any) -> None:
    # The batch twin of encounter_on_booking for event "booked": same rows, set-based.
    encounters_open_batch(appointments=appointments)
    eligibility_checks_for_bookings(appointments=appointments)


@receiver(appointments_changed, dispatch_uid="billing.encounters_on_endings")
def encounters_on_endings(sender: Any, ended: Any, **_: Any) -> None:
    # The batch twin of encounter_on_booking for "cancelled" and "no_show".
    encounters_void_batch(appointment_ids=[appointment.pk for appointment, _ in ended])
