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
