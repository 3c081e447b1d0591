"""Scheduling events other apps react to without scheduling importing them.

Sent from inside the service's transaction; receivers that do outside work (a payer
call, a Celery task) must defer it with ``transaction.on_commit``. Receivers that write
rows (integrations' outbox, billing's encounters) write them in that same transaction,
so the rows exist if and only if the change commits.

``origin_connector_id`` names the connector whose system made the change (a location's
PMS sending an SIU), None when the hub made it: a change must not be echoed back to
the system it came from.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: hold (scheduling.Hold), patient (patients.Patient)
hold_placed = Signal()

# kwargs: appointment (scheduling.Appointment), event ("booked" | "rescheduled" |
# "cancelled" | "modified" | "no_show" | "arrived" | "completed"), previous (the
# appointment a "rescheduled" one replaces, else None), origin_connector_id (int | None)
appointment_changed = Signal()

# kwargs: appointments (list[scheduling.Appointment]), origin_connector_ids
# (list[int | None], one per appointment). Sent by batch paths
# (appointments_record_external_batch) INSTEAD of one appointment_changed(event="booked")
# per row, so receivers can answer a batch set-based. A receiver of appointment_changed
# must also receive this: the batch paths fall back to one booking at a time while
# appointment_changed has more receivers than this signal (``bulk_receivers_ready``).
appointments_booked = Signal()


# kwargs: changes (list[tuple[scheduling.Appointment, str, int | None]]): EVERY change of
# a run in arrival order ("modified", "cancelled", "no_show"), each with its event and
# origin connector id; ended (list[tuple[scheduling.Appointment, str]]): the subset that
# ended an appointment, for receivers that only care about those. Sent once by
# appointments_change_external_batch INSTEAD of one appointment_changed per row, under
# the same rule as appointments_booked.
appointments_changed = Signal()


def bulk_receivers_ready() -> bool:
    return len(appointment_changed.receivers) <= min(
        len(appointments_booked.receivers), len(appointments_changed.receivers)
    )


# kwargs: messages (list[scheduling.PatientMessage]), in creation order. Sent inside the
# transaction that creates them; integrations writes one outbox row per message there.
patient_messages_queued = Signal()
