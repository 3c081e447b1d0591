"""Processing of stored inbound messages: FIFO per patient, one bad message never blocks.

Messages sharing an ``ordering_key`` (one sender's patient) are applied strictly in
arrival order. A message whose content can never be applied is marked rejected and
the queue moves on; one that failed for a transient reason (database busy, a lock)
is retried with backoff and holds back that patient's later messages until it is
applied or dead-lettered, because applying an A08 before the A04 it updates would be
wrong. Each message is applied and marked processed in ONE transaction, so a worker
killed halfway leaves nothing behind and the redelivered task does the work once.

This module is the drain loop (claim a batch, order it, apply it, record outcomes);
``inbound_runs`` applies runs of one kind set-based and ``inbound_apply`` makes one
attempt at one message and turns its outcome into the row's next state.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from config.crypto.fields import blind_indexes_memoized
from config.logs import logging_message
from patients.phones import phones_memoized

from .inbound_apply import inbound_apply, inbound_outcome
from .inbound_runs import (
    BULK_TYPES,
    Deferral,
    apply_bulk_adt,
    apply_bulk_bookings,
    apply_bulk_changes,
)
from .models import Message

PENDING_INBOUND = (Message.Status.RECEIVED, Message.Status.FAILED)


def inbound_due_keys(*, limit: int = 1000) -> list[str]:
    """Keys with work: received rows (their task may have been lost) or retries now due."""
    now = timezone.now()
    # X12 rows are the clearinghouse side's (x12.clearinghouse.x12_replays_due).
    received = (
        Message.objects.filter(direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED)
        .exclude(protocol=Message.Protocol.X12)
        .values_list("ordering_key", flat=True)
    )
    retry = (
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            status=Message.Status.FAILED,
            next_attempt_at__lte=now,
        )
        .exclude(protocol=Message.Protocol.X12)
        .values_list("ordering_key", flat=True)
    )
    keys = list(dict.fromkeys([*received[:limit], *retry[:limit]]))
    return keys[:limit]


def _apply_one(head: Message, now: datetime) -> bool:
    """The careful path: one message in its own savepoint."""
    with logging_message(head.pk):
        try:
            with transaction.atomic():
                note = inbound_apply(head)
        except Exception as exc:
            return inbound_outcome(head, now, None, exc)
        return inbound_outcome(head, now, note, None)


@blind_indexes_memoized()
@phones_memoized()
def _apply_bulk(run: list[Message], now: datetime, deferral: Deferral | None = None) -> bool:
    """Apply a run of one bulk kind set-based. False: nothing of it happened (a database
    error, or a row changed under us) and the caller applies the run one message at a
    time, so only a message that really fails costs a savepoint."""
    kind = BULK_TYPES[run[0].message_type]
    if kind == "siu":
        return apply_bulk_bookings(run, now, deferral)
    if kind == "siu-change":
        return apply_bulk_changes(run, now, deferral)
    return apply_bulk_adt(run, now)


def _kind(row: Message) -> str:
    if row.protocol == Message.Protocol.HL7V2 and row.status == Message.Status.RECEIVED:
        return BULK_TYPES.get(row.message_type, "one")
    return "one"


def _in_waves(rows: list[Message]) -> list[Message]:
    """The order a batch is applied in: wave n holds each key's n-th message, and within
    a wave messages of one kind sit together, in arrival order.

    Only the order within a key is promised (FIFO per patient); messages of different
    patients are already applied in any order when several workers drain different keys
    at once. Reordering them here is what turns a sender's interleaved stream (a booking,
    another patient's update, a third's cancellation...) into runs long enough to apply
    set-based. Where one patient's message depends on another's, it is a unit of the
    schedule, and ``Deferral`` gives those bookings and moves their arrival-order
    outcome; the MPI's demographic matching between two patients of one batch sees them
    in wave order, as it would with two workers.
    """
    seen: dict[str, int] = defaultdict(int)
    waved: list[tuple[int, str, Message]] = []
    for row in rows:
        waved.append((seen[row.ordering_key], _kind(row), row))
        seen[row.ordering_key] += 1
    rank: dict[tuple[int, str], int] = {}
    for wave, kind, _ in waved:
        rank.setdefault((wave, kind), len(rank))
    waved.sort(key=lambda w: (w[0], rank[(w[0], w[1])]))  # stable: arrival order within
    return [row for _, _, row in waved]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch runs; the first allocation after it
    collects the young objects it left, most of them already freed by their counts.

    A batch holds tens of thousands of objects (rows, instances, diffs, audit entries)
    until its commit: each collection finds them all alive, promotes them, and once
    enough have been promoted a full collection walks the whole heap, the worker's code
    and Django's registries included. That was a fifth of a batch's CPU."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@_collector_paused()
def inbound_drain_batch(keys: list[str], *, limit: int = 500) -> int:
    """Apply the due messages of many patient keys in ONE transaction.

    One commit for the lot is what makes a worker fast: a commit waits for the disk.
    FIFO per key still holds: rows are locked in arrival order, by id (the same order in
    every worker, so two workers cannot deadlock, and a worker that finds a key's head
    locked waits for it and then skips it once it is processed), and a key whose message
    fails transiently, or whose head is waiting for its retry, gets nothing more applied
    in this batch.
    The batch is applied in waves (``_in_waves``): each key's first message, then each
    key's second, and so on, each wave grouped by kind, so a busy sender's interleaved
    ADT, S12, S14 and S15 make long runs. Runs of one kind are applied set-based (a few
    statements for the whole run); anything else, and a run that the bulk path declines,
    goes one message per savepoint. All or nothing: a worker killed midway applied none
    of it.
    """
    if not keys:
        return 0
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(of=("self",))
            .select_related("connector")
            # The ACK went back when the row was stored; applying never reads it, and
            # every column loaded here is decrypted.
            .defer("ack_raw")
            .filter(
                direction=Message.Direction.INBOUND,
                ordering_key__in=keys,
                status__in=PENDING_INBOUND,
            )
            .exclude(protocol=Message.Protocol.X12)
            # Arrival order is the order of ids, not of received_at: the id comes from the
            # one database sequence, while received_at is the clock of whichever listener
            # stored the row, and two listener machines' clocks disagree by more than the
            # gap between a sender's ACK and its next message.
            .order_by("id")[:limit]
        )
        deferral = Deferral(rows)
        touched: list[Message] = []
        _apply_rows(_in_waves(rows), now, touched, deferral)
        if deferral.rows:
            # Once, in arrival order, with everything else applied; refused now is final.
            later = sorted(deferral.rows, key=lambda m: m.pk)
            _apply_rows(later, now, touched, None)
        _record_all(touched)
    return len(touched)


def _apply_rows(
    rows: list[Message], now: datetime, touched: list[Message], deferral: Deferral | None
) -> None:
    """Apply rows in this order: runs of one bulk kind set-based, the rest one per
    savepoint; a key stops at its first transient failure or not-yet-due retry."""
    stopped: set[str] = set()
    run: list[Message] = []

    def flush() -> None:
        if run and _apply_bulk(run, now, deferral):
            set_aside = {h.pk for h in deferral.rows} if deferral else set()
            touched.extend(h for h in run if h.pk not in set_aside)
        elif run:
            for head in run:
                if head.ordering_key in stopped:
                    continue
                touched.append(head)
                if not _apply_one(head, now):
                    stopped.add(head.ordering_key)
        run.clear()

    for head in rows:
        key = head.ordering_key
        if key in stopped:
            continue
        not_due = head.next_attempt_at is not None and head.next_attempt_at > now
        if head.status == Message.Status.FAILED and not_due:
            stopped.add(key)
            continue
        if (
            head.protocol == Message.Protocol.HL7V2
            and head.message_type in BULK_TYPES
            and head.status == Message.Status.RECEIVED
        ):
            if run and BULK_TYPES[run[0].message_type] != BULK_TYPES[head.message_type]:
                flush()
                if key in stopped:
                    continue
            run.append(head)
            continue
        flush()
        if key in stopped:  # its earlier message in the run just failed
            continue
        touched.append(head)
        if not _apply_one(head, now):
            stopped.add(key)
    flush()


def _record_all(rows: list[Message]) -> None:
    """The worker's bookkeeping for a batch: one UPDATE per distinct outcome (nearly all
    rows share "processed now"), not one per row. Queryset writes, not save(), so
    auditlog keeps people's actions (replays) and not the worker's status flips."""
    groups: dict[tuple[object, ...], list[int]] = {}
    for row in rows:
        outcome = (
            row.status,
            row.last_error,
            row.processed_at,
            row.attempts,
            row.next_attempt_at,
        )
        groups.setdefault(outcome, []).append(row.pk)
    for (status, last_error, processed_at, attempts, next_attempt_at), pks in groups.items():
        Message.objects.filter(pk__in=pks).update(
            status=status,
            last_error=last_error,
            processed_at=processed_at,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
        )


def inbound_drain_keys(keys: list[str], *, batch: int = 500) -> int:
    """Drain these keys batch by batch until a batch comes back short."""
    total = 0
    while True:
        done = inbound_drain_batch(keys, limit=batch)
        total += done
        if done < batch:
            return total
