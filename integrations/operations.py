"""Ledger operations people run from admin: replay, dead-letter, resolve, resend.

Each is a conditional update on the rows still in a state it applies to, so running it
twice (two admins, a double click) changes nothing more; auditlog records each change
with the admin who made it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .models import Message, OutboxEvent

logger = logging.getLogger(__name__)

REPLAYABLE = (Message.Status.FAILED, Message.Status.DEAD, Message.Status.REJECTED)
DEAD_LETTERABLE = (Message.Status.RECEIVED, Message.Status.FAILED, Message.Status.PENDING)
RESOLVABLE = (Message.Status.FAILED, Message.Status.DEAD, Message.Status.REJECTED)
# Resend applies to outbound rows that are finished: delivered, or given up on.
RESENDABLE = (Message.Status.SENT, Message.Status.DEAD)
OUT_WAITING = (Message.Status.PENDING, Message.Status.FAILED)


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
        Message.objects.filter(pk__in=list(ids), direction=Message.Direction.INBOUND)
        .exclude(protocol=Message.Protocol.X12)
        .values_list("pk", flat=True),
        REPLAYABLE,
        status=Message.Status.RECEIVED,
        attempts=0,
        next_attempt_at=None,
        processed_at=None,
    )
    # X12 files are posted by the clearinghouse side, not the HL7/FHIR workers.
    x12 = _update(
        Message.objects.filter(
            pk__in=list(ids), direction=Message.Direction.INBOUND, protocol=Message.Protocol.X12
        ).values_list("pk", flat=True),
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
        from .x12.tasks import x12_inbound_replay_task

        try:
            for message_id in x12:
                x12_inbound_replay_task.delay(message_id)
            if keys:
                inbound_drain_task.delay(keys)
            if outbound:
                outbox_relay_task.delay()
        except Exception:  # broker down: beat's sweeper and relay pick them up
            logger.warning("could not queue the replay; beat will pick it up")

    transaction.on_commit(kick)
    return inbound + x12 + outbound


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


@transaction.atomic
def messages_reviewed(*, ids: Iterable[int]) -> list[int]:
    """A person has looked at flagged rows: the flag goes (auditlog keeps what it said)."""
    done = []
    flagged = Message.objects.select_for_update().filter(pk__in=list(ids)).exclude(review_reason="")
    for message in flagged.order_by("pk"):
        message.review_reason = ""
        message.save(update_fields=["review_reason"])
        done.append(message.pk)
    return done


@transaction.atomic
def messages_resend(*, ids: Iterable[int], by: str) -> list[int]:
    """Queue a fresh delivery of a delivered or dead outbound message's event to the same
    connector (ops: "the location system lost it, send it again").

    Replay cannot do this: a delivered row is not failed, and re-sending under the same
    control id would be dropped by the receiver as a duplicate. So each resend is a new
    outbound row with its own control id, carrying a copy of the event marked
    ``resend_of`` and already fanned out (only this connector gets it, not every
    connector of the location). The relay builds the wire from the current rows at
    delivery time, like any other delivery. Idempotent per click: while a resend of a row
    is still waiting, asking again does nothing. Returns the ids of the rows resent; the
    new rows are recorded by auditlog with the admin as actor.
    """
    now = timezone.now()
    done = []
    originals = (
        Message.objects.select_for_update()
        .select_related("outbox_event")
        .filter(
            pk__in=list(ids),
            direction=Message.Direction.OUTBOUND,
            status__in=RESENDABLE,
            outbox_event__isnull=False,
            connector__isnull=False,
        )
        .order_by("pk")
    )
    for original in originals:
        event = original.outbox_event
        assert event is not None and original.connector_id is not None  # filtered above
        if Message.objects.filter(
            direction=Message.Direction.OUTBOUND,
            connector=original.connector,
            status__in=OUT_WAITING,
            outbox_event__payload__resend_of=original.pk,
        ).exists():
            continue
        copy = OutboxEvent.objects.create(
            event_type=event.event_type,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            location_id=event.location_id,
            payload={**event.payload, "resend_of": original.pk, "resent_by": by},
            created_at=now,
            next_attempt_at=now,
            fanned_out_at=now,
        )
        Message.objects.create(
            direction=Message.Direction.OUTBOUND,
            protocol=original.protocol,
            message_type=original.message_type,
            connector_id=original.connector_id,
            outbox_event=copy,
            sender=original.sender,
            raw="",
            sha256="",
            status=Message.Status.PENDING,
            ordering_key=original.ordering_key,
            received_at=now,
            next_attempt_at=now,
        )
        logger.info("outbound message #%s resent by %s", original.pk, by)
        done.append(original.pk)
    if done:
        from .outbox import _kick_relay_on_commit

        _kick_relay_on_commit()
    return done
