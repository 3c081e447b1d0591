"""Processing of stored inbound messages: FIFO per patient, one bad message never blocks.

Messages sharing an ``ordering_key`` (one sender's patient) are applied strictly in
arrival order. A message whose content can never be applied is marked rejected and
the queue moves on; one that failed for a transient reason (database busy, a lock)
is retried with backoff and holds back that patient's later messages until it is
applied or dead-lettered, because applying an A08 before the A04 it updates would be
wrong. Each message is applied and marked processed in ONE transaction, so a worker
killed halfway leaves nothing behind and the redelivered task does the work once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .models import Message

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
PENDING_INBOUND = (Message.Status.RECEIVED, Message.Status.FAILED)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _apply(message: Message) -> str:
    if message.protocol == Message.Protocol.HL7V2:
        from .hl7v2.inbound import handle

        assert message.connector is not None
        return handle(message.raw, message.connector)
    if message.protocol == Message.Protocol.FHIR:
        from .fhir.inbound import handle as handle_fhir

        assert message.connector is not None
        return handle_fhir(message.message_type, message.raw, message.connector)
    raise ValueError(f"no inbound processing for protocol {message.protocol}")


def _record(head: Message) -> None:
    # A queryset update, not save(): the worker's own bookkeeping on the ledger row is
    # the ledger's record already; auditlog keeps people's actions (replays).
    Message.objects.filter(pk=head.pk).update(
        status=head.status,
        last_error=head.last_error,
        processed_at=head.processed_at,
        attempts=head.attempts,
        next_attempt_at=head.next_attempt_at,
    )


def _process_head(key: str, now: datetime) -> str:
    """Apply the oldest pending message of one key. Returns 'done', 'blocked' or 'empty'."""
    from .hl7v2.inbound import MappingError

    with transaction.atomic():
        head = (
            # of=self: PostgreSQL cannot lock the nullable side of the connector join.
            Message.objects.select_for_update(of=("self",))
            .select_related("connector")
            .filter(
                direction=Message.Direction.INBOUND, ordering_key=key, status__in=PENDING_INBOUND
            )
            .order_by("received_at", "id")
            .first()
        )
        if head is None:
            return "empty"
        if (
            head.status == Message.Status.FAILED
            and head.next_attempt_at
            and head.next_attempt_at > now
        ):
            return "blocked"
        try:
            with transaction.atomic():
                note = _apply(head)
        except (MappingError, ValueError) as exc:
            # Content the hub can never apply (ValueError: a domain service refusing
            # its input). Retrying would not help; the patient's queue moves on.
            head.status = Message.Status.REJECTED
            head.last_error = str(exc)[:500]
            head.processed_at = now
        except Exception as exc:
            head.attempts += 1
            head.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            if head.attempts >= MAX_ATTEMPTS:
                head.status = Message.Status.DEAD
            else:
                head.status = Message.Status.FAILED
                head.next_attempt_at = now + backoff(head.attempts)
            logger.warning("inbound message #%s failed: %s", head.pk, type(exc).__name__)
        else:
            head.status = Message.Status.PROCESSED
            head.processed_at = now
            head.last_error = note[:500] if head.attempts else ""
        _record(head)
        return "done" if head.status != Message.Status.FAILED else "blocked"


def inbound_drain_key(key: str, *, limit: int = 10_000) -> int:
    """Apply every due message of one ordering key, oldest first. Returns how many ran."""
    done = 0
    while done < limit:
        outcome = _process_head(key, timezone.now())
        if outcome != "done":
            break
        done += 1
    return done


def inbound_due_keys(*, limit: int = 1000) -> list[str]:
    """Keys with work: received rows (their task may have been lost) or retries now due."""
    now = timezone.now()
    received = Message.objects.filter(
        direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED
    ).values_list("ordering_key", flat=True)
    retry = Message.objects.filter(
        direction=Message.Direction.INBOUND,
        status=Message.Status.FAILED,
        next_attempt_at__lte=now,
    ).values_list("ordering_key", flat=True)
    keys = list(dict.fromkeys([*received[:limit], *retry[:limit]]))
    return keys[:limit]


def inbound_drain_batch(keys: list[str], *, limit: int = 500) -> int:
    """Apply the due messages of many patient keys in ONE transaction (a savepoint each).

    One commit for the lot is what makes a worker fast: a commit waits for the disk, a
    savepoint does not. FIFO per key still holds: rows are locked in arrival order (the
    same order in every worker, so two workers cannot deadlock), and a key whose message
    fails transiently, or whose head is waiting for its retry, gets nothing more applied
    in this batch. All or nothing: a worker killed midway applied none of it.
    """
    from .hl7v2.inbound import MappingError

    if not keys:
        return 0
    done = 0
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(of=("self",))
            .select_related("connector")
            .filter(
                direction=Message.Direction.INBOUND,
                ordering_key__in=keys,
                status__in=PENDING_INBOUND,
            )
            .order_by("received_at", "id")[:limit]
        )
        stopped: set[str] = set()
        for head in rows:
            key = head.ordering_key
            if key in stopped:
                continue
            not_due = head.next_attempt_at is not None and head.next_attempt_at > now
            if head.status == Message.Status.FAILED and not_due:
                stopped.add(key)
                continue
            try:
                with transaction.atomic():
                    note = _apply(head)
            except (MappingError, ValueError) as exc:
                head.status = Message.Status.REJECTED
                head.last_error = str(exc)[:500]
                head.processed_at = now
            except Exception as exc:
                head.attempts += 1
                head.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                if head.attempts >= MAX_ATTEMPTS:
                    head.status = Message.Status.DEAD
                else:
                    head.status = Message.Status.FAILED
                    head.next_attempt_at = now + backoff(head.attempts)
                    stopped.add(key)
                logger.warning("inbound message #%s failed: %s", head.pk, type(exc).__name__)
            else:
                head.status = Message.Status.PROCESSED
                head.processed_at = now
                head.last_error = note[:500] if head.attempts else ""
            _record(head)
            done += 1
    return done


def inbound_drain_keys(keys: list[str], *, batch: int = 500) -> int:
    """Drain these keys batch by batch until a batch comes back short."""
    total = 0
    while True:
        done = inbound_drain_batch(keys, limit=batch)
        total += done
        if done < batch:
            return total
