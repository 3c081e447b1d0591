"""Ledger operations people run from admin: replay, dead-letter, resolve.

Each is a conditional update on the rows still in a state it applies to, so running it
twice (two admins, a double click) changes nothing more; auditlog records each change
with the admin who made it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .models import Message

logger = logging.getLogger(__name__)

REPLAYABLE = (Message.Status.FAILED, Message.Status.DEAD, Message.Status.REJECTED)
DEAD_LETTERABLE = (Message.Status.RECEIVED, Message.Status.FAILED, Message.Status.PENDING)
RESOLVABLE = (Message.Status.FAILED, Message.Status.DEAD, Message.Status.REJECTED)


def _update(ids: Iterable[int], states: tuple[str, ...], **changes: object) -> list[int]:
    """Per-row save (not queryset.update) so auditlog sees every change and its actor."""
    done = []
    for message in Message.objects.select_for_update().filter(pk__in=list(ids), status__in=states):
        for name, value in changes.items():
            setattr(message, name, value)
        message.save(update_fields=list(changes))
        done.append(message.pk)
    return done


@transaction.atomic
def messages_replay(*, ids: Iterable[int]) -> list[int]:
    """Put failed, dead or rejected messages back in their queue. Inbound rows are applied
    again by the workers (the domain services are idempotent), outbound rows are sent
    again under their original control id, so a receiver that already has it drops it."""
    now = timezone.now()
    inbound = _update(
        Message.objects.filter(pk__in=list(ids), direction=Message.Direction.INBOUND).values_list(
            "pk", flat=True
        ),
        REPLAYABLE,
        status=Message.Status.RECEIVED,
        attempts=0,
        next_attempt_at=None,
        processed_at=None,
    )
    outbound = _update(
        Message.objects.filter(pk__in=list(ids), direction=Message.Direction.OUTBOUND).values_list(
            "pk", flat=True
        ),
        REPLAYABLE,
        status=Message.Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        processed_at=None,
    )
    keys = list(
        Message.objects.filter(pk__in=inbound).values_list("ordering_key", flat=True).distinct()
    )

    def kick() -> None:
        from .tasks import inbound_drain_task, outbox_relay_task

        try:
            if keys:
                inbound_drain_task.delay(keys)
            if outbound:
                outbox_relay_task.delay()
        except Exception:  # broker down: beat's sweeper and relay pick them up
            logger.warning("could not queue the replay; beat will pick it up")

    transaction.on_commit(kick)
    return inbound + outbound


@transaction.atomic
def messages_dead_letter(*, ids: Iterable[int], reason: str = "dead-lettered by hand") -> list[int]:
    return _update(
        ids,
        DEAD_LETTERABLE,
        status=Message.Status.DEAD,
        last_error=reason,
        next_attempt_at=None,
        processed_at=timezone.now(),
    )


@transaction.atomic
def messages_resolve(*, ids: Iterable[int]) -> list[int]:
    """Mark messages handled outside the hub (fixed by phone, entered by hand)."""
    return _update(ids, RESOLVABLE, status=Message.Status.RESOLVED, next_attempt_at=None)
