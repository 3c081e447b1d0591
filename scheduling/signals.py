"""Scheduling events other apps react to without scheduling importing them.

Sent from inside the service's transaction; receivers that do outside work (a payer
call, a Celery task) must defer it with ``transaction.on_commit``.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: hold (scheduling.Hold), patient (patients.Patient)
hold_placed = Signal()

# kwargs: appointment (scheduling.Appointment), event ("booked" | "rescheduled" |
# "cancelled" | "modified" | "no_show" | "arrived" | "completed"), previous (Appointment | None)
appointment_changed = Signal()

# kwargs: appointments (list[scheduling.Appointment]). Sent by batch paths
# (appointments_record_external_batch) INSTEAD of one appointment_changed(event="booked")
# per row, so receivers can answer a batch set-based. A receiver of appointment_changed
# must also receive this: the batch paths fall back to one booking at a time while
# appointment_changed has more receivers than this signal (``bulk_receivers_ready``).
appointments_booked = Signal()


# kwargs: ended (list[tuple[scheduling.Appointment, str]]), each appointment with its event
# "cancelled" or "no_show". Sent by appointments_end_external_batch INSTEAD of one
# appointment_changed per row, under the same rule as appointments_booked.
appointments_ended = Signal()


def bulk_receivers_ready() -> bool:
    return len(appointment_changed.receivers) <= min(
        len(appointments_booked.receivers), len(appointments_ended.receivers)
    )
