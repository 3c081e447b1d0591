"""The write side of the outbox: ``integrations.receivers`` calls this when a domain
signal arrives, inside the transaction of the change the signal announces.

A receiver names an event and the row it is about; the relay (integrations' worker)
decides which connectors want it and turns it into HL7 or FHIR at delivery time, reading
the row's state then. That keeps wire formats out of the domain and makes a retried
delivery send the latest truth rather than a stale snapshot.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple

from django.db import transaction
from django.utils import timezone

from .models import OutboxEvent

logger = logging.getLogger(__name__)

# Event names the relay understands. Receivers use these constants, never string literals.
APPOINTMENT_BOOKED = "appointment.booked"
APPOINTMENT_RESCHEDULED = "appointment.rescheduled"  # on the NEW appointment; payload previous_id
APPOINTMENT_MODIFIED = "appointment.modified"
APPOINTMENT_CANCELLED = "appointment.cancelled"
APPOINTMENT_NO_SHOW = "appointment.no_show"
PATIENT_CREATED = "patient.created"
PATIENT_UPDATED = "patient.updated"
# A text or email the domain asked for (scheduling.PatientMessage).
PATIENT_MESSAGE_SEND = "patient_message.send"
EVENT_TYPES = frozenset(
    {
        PATIENT_MESSAGE_SEND,
        APPOINTMENT_BOOKED,
        APPOINTMENT_RESCHEDULED,
        APPOINTMENT_MODIFIED,
        APPOINTMENT_CANCELLED,
        APPOINTMENT_NO_SHOW,
        PATIENT_CREATED,
        PATIENT_UPDATED,
    }
)


def outbox_enqueue(
    *,
    event_type: str,
    aggregate_type: str,
    aggregate_id: int,
    location_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Record that other systems must hear about a change.

    Precondition: the caller is inside the transaction that makes the change, so the
    event exists if and only if the change does (the transactional outbox pattern).
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown outbox event type {event_type!r}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_enqueue must run inside the domain change's transaction")
    now = timezone.now()
    _kick_relay_on_commit()
    return OutboxEvent.objects.create(
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        location_id=location_id,
        payload=payload or {},
        created_at=now,
        next_attempt_at=now,
    )


class Outgoing(NamedTuple):
    """One event of a batch: what ``outbox_enqueue`` takes, positionally."""

    event_type: str
    aggregate_type: str
    aggregate_id: int
    location_id: int | None = None
    payload: dict[str, Any] | None = None


def outbox_enqueue_many(events: list[Outgoing]) -> None:
    """``outbox_enqueue`` for a batch path: one INSERT for all of them, in list order
    (ids increase with it, which is the order the relay delivers in)."""
    if not events:
        return
    if unknown := {e.event_type for e in events} - EVENT_TYPES:
        raise ValueError(f"Unknown outbox event types {sorted(unknown)!r}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_enqueue_many must run inside the domain change's transaction")
    now = timezone.now()
    _kick_relay_on_commit()
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            event_type=e.event_type,
            aggregate_type=e.aggregate_type,
            aggregate_id=e.aggregate_id,
            location_id=e.location_id,
            payload=e.payload or {},
            created_at=now,
            next_attempt_at=now,
        )
        for e in events
    )


# After a failed kick the next ones are skipped for this long: beat runs the relay
# anyway, and with the broker down every attempt takes most of a second to fail, which
# an agent's booking would otherwise wait for on each commit.
KICK_PAUSE_SECONDS = 5.0
_kick_paused_until = 0.0


def _kick_relay() -> None:
    """Start the relay now rather than at its next beat; if the broker is down, beat
    still finds the event, so a failure here loses nothing."""
    global _kick_paused_until
    from django.conf import settings

    if not getattr(settings, "INTEGRATIONS_KICK_RELAY", True):
        return
    if time.monotonic() < _kick_paused_until:
        return
    try:
        # By name: the write side sits below the task modules and must not import them.
        from celery import current_app

        current_app.send_task("integrations.tasks.outbox_relay_task")
    except Exception:
        _kick_paused_until = time.monotonic() + KICK_PAUSE_SECONDS
        logger.warning("could not queue the outbox relay; beat will run it")


def _kick_relay_on_commit() -> None:
    connection = transaction.get_connection()
    # One kick per transaction, however many events it writes.
    if any(entry[1] is _kick_relay for entry in connection.run_on_commit):
        return
    transaction.on_commit(_kick_relay)
