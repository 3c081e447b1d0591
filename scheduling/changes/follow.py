"""Worklist rows follow their visits: a visit moved or ended anywhere else (an agent's
console after the patient called back, the location's front desk) closes its row, so
nobody moves it a second time. Receivers run inside the change's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from config.audit import audit_set

from ..models import Appointment, RebookingItem

# Rows someone still has to act on: nobody moved the visit yet.
ACTIVE = (RebookingItem.Status.OPEN, RebookingItem.Status.NOTIFIED)
ENDED = {"cancelled", "no_show"}


def _close(appointment_ids: Iterable[int], status: str, new: Appointment | None = None) -> None:
    rows = RebookingItem.objects.filter(appointment_id__in=list(appointment_ids), status__in=ACTIVE)
    closed = list(rows.values_list("pk", flat=True))
    if not closed:
        return
    RebookingItem.objects.filter(pk__in=closed).update(
        status=status, new_appointment=new, resolved_at=timezone.now()
    )
    # update() sends no signal: the audit rows are written here, in the same transaction.
    audit_set(RebookingItem, closed, "status", "open", status)


def rebooking_follows_visit(
    sender: Any,
    appointment: Appointment,
    event: str,
    previous: Appointment | None = None,
    **_: Any,
) -> None:
    if event == "rescheduled" and previous is not None:
        _close([previous.pk], RebookingItem.Status.REBOOKED, new=appointment)
    elif event in ENDED:
        _close([appointment.pk], RebookingItem.Status.CANCELLED)


def rebooking_follows_batch(sender: Any, ended: list[tuple[Appointment, str]], **_: Any) -> None:
    _close([a.pk for a, event in ended if event in ENDED], RebookingItem.Status.CANCELLED)


def rebooking_ignores_bookings(sender: Any, **_: Any) -> None:
    """New bookings close no row; connected so the batch booking path stays batched
    (``signals.bulk_receivers_ready`` counts receivers)."""
