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

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
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

# Why one waiting kick is enough: a relay run reads the pending events when it starts, so
# it delivers every event committed before that moment. While a kick is queued and its
# run has not started, another kick would only queue a second run behind it that finds
# nothing the first did not. The first kick after a run starts marks itself waiting in the
# shared cache (SET NX); ``outbox_relay_task`` clears the mark before it reads anything; a
# commit that finds the mark set therefore happened before that run's read, which will
# include its events, and sends no kick. Nothing is lost or waits longer than beat allows:
# a mark whose kick never runs (the broker lost it) expires after beat's relay interval,
# and beat's own run clears it before then. Where the cache is the process's own memory
# (the embedded default) the worker cannot clear the mark, so every commit kicks as before.
KICK_WAITING_SECONDS = 10  # the relay's beat interval (config.celery)


def _kick_waiting_key() -> str:
    # Per deployment, as its queue is: two hubs sharing a cache must not skip each other's.
    return f"integrations:relay-kick-waiting:{settings.CELERY_TASK_DEFAULT_QUEUE}"


def _kicks_shared() -> bool:
    return isinstance(caches["default"], RedisCache)


def _kick_already_waiting() -> bool:
    """True when a queued kick's run has not started yet; otherwise marks this one."""
    if not _kicks_shared():
        return False
    try:
        return not cache.add(_kick_waiting_key(), 1, timeout=KICK_WAITING_SECONDS)
    except Exception:
        return False  # cannot tell: kick, as without the mark


def relay_run_starting() -> None:
    """Called by the relay task before it reads: a commit from now on needs a kick."""
    if not _kicks_shared():
        return
    try:
        cache.delete(_kick_waiting_key())
    except Exception:
        # The mark then expires on its own; until it does, beat's runs deliver.
        logger.warning("could not clear the relay's waiting-kick mark")


def _kick_relay() -> None:
    """Start the relay now rather than at its next beat; if the broker is down, beat
    still finds the event, so a failure here loses nothing."""
    global _kick_paused_until
    if not getattr(settings, "INTEGRATIONS_KICK_RELAY", True):
        return
    if time.monotonic() < _kick_paused_until:
        return
    if _kick_already_waiting():
        return
    try:
        # By name: the write side sits below the task modules and must not import them.
        from celery import current_app

        current_app.send_task("integrations.tasks.outbox_relay_task")
    except Exception:
        _kick_paused_until = time.monotonic() + KICK_PAUSE_SECONDS
        logger.warning("could not queue the outbox relay; beat will run it")
        relay_run_starting()  # no run is coming: the next commit after the pause kicks


def _kick_relay_on_commit() -> None:
    connection = transaction.get_connection()
    # One kick per transaction, however many events it writes.
    if any(entry[1] is _kick_relay for entry in connection.run_on_commit):
        return
    transaction.on_commit(_kick_relay)
