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
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from . import retry
from .models import Connector, Message

logger = logging.getLogger(__name__)

PENDING_INBOUND = (Message.Status.RECEIVED, Message.Status.FAILED)


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
            if retry.exhausted(head.attempts):
                head.status = Message.Status.DEAD
            else:
                head.status = Message.Status.FAILED
                head.next_attempt_at = now + retry.backoff(head.attempts)
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


# Message types a batch applies set-based, and the run each belongs to: ADT upserts
# (patients.mpi.patient_upsert_batch) and front-desk bookings
# (scheduling's appointments_record_external_batch, after the same patient upsert).
BULK_TYPES = {
    "ADT^A04": "adt",
    "ADT^A08": "adt",
    "SIU^S12": "siu",
    "SIU^S13": "siu-change",
    "SIU^S14": "siu-change",
    "SIU^S15": "siu-change",
    "SIU^S26": "siu-change",
}


def _outcome(head: Message, now: datetime, note: str | None, exc: Exception | None) -> bool:
    """Set the row's new state after an attempt. Returns False when its key must stop."""
    from .hl7v2.inbound import MappingError

    if exc is None:
        head.status = Message.Status.PROCESSED
        head.processed_at = now
        head.last_error = (note or "")[:500] if head.attempts else ""
        return True
    if isinstance(exc, (MappingError, ValueError)):
        # Content the hub can never apply (ValueError: a domain service refusing its
        # input). Retrying would not help; the patient's queue moves on.
        head.status = Message.Status.REJECTED
        head.last_error = str(exc)[:500]
        head.processed_at = now
        return True
    head.attempts += 1
    head.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
    logger.warning("inbound message #%s failed: %s", head.pk, type(exc).__name__)
    if retry.exhausted(head.attempts):
        head.status = Message.Status.DEAD
        return True
    head.status = Message.Status.FAILED
    head.next_attempt_at = now + retry.backoff(head.attempts)
    return False


def _apply_one(head: Message, now: datetime) -> bool:
    """The careful path: one message in its own savepoint."""
    try:
        with transaction.atomic():
            note = _apply(head)
    except Exception as exc:
        return _outcome(head, now, None, exc)
    return _outcome(head, now, note, None)


class _Deferral:
    """Front-desk bookings and moves refused for want of free units, set aside to be
    tried again at the end of the batch.

    A batch applies each patient's messages in order but, for speed, not the different
    patients' messages in arrival order (``_in_waves``). So a booking may meet a unit that
    another patient's cancellation, which arrived first, has not freed yet. Trying such a
    refusal again once everything else in the batch is applied gives it the outcome
    arrival order would. Only a patient's last message in the batch is set aside:
    anything behind it in the patient's queue must see it applied first.
    """

    def __init__(self, rows: list[Message]) -> None:
        last: dict[str, Message] = {}
        for row in rows:
            last[row.ordering_key] = row
        self._last = {row.pk for row in last.values()}
        self.rows: list[Message] = []

    def take(self, head: Message, refusal: Exception) -> bool:
        from scheduling.services import SlotUnavailable

        if isinstance(refusal, SlotUnavailable) and head.pk in self._last:
            self.rows.append(head)
            return True
        return False


def _apply_bulk(run: list[Message], now: datetime, deferral: _Deferral | None = None) -> bool:
    """Apply a run of one bulk kind set-based. False: nothing of it happened (a database
    error, or a row changed under us) and the caller applies the run one message at a
    time, so only a message that really fails costs a savepoint."""
    kind = BULK_TYPES[run[0].message_type]
    if kind == "siu":
        return _apply_bulk_bookings(run, now, deferral)
    if kind == "siu-change":
        return _apply_bulk_changes(run, now, deferral)
    return _apply_bulk_adt(run, now)


def _apply_bulk_adt(run: list[Message], now: datetime) -> bool:
    """A run of ADT upserts in ONE savepoint."""
    from patients.mpi import BatchItem, StaleBatch, patient_upsert_batch

    from .hl7v2.inbound import MappingError, record_of

    items: list[BatchItem] = []
    parsed: list[Message] = []
    for head in run:
        assert head.connector is not None
        try:
            record = record_of(head.raw, head.connector)
        except MappingError as exc:
            _outcome(head, now, None, exc)  # rejected; its key carries on
            continue
        except Exception:
            return False  # not the content's fault: one by one, so only this one waits
        items.append(BatchItem(record, head.connector.location_id, head.connector.pk))
        parsed.append(head)
    if not items:
        return True
    try:
        with transaction.atomic():
            results = patient_upsert_batch(items)
    except StaleBatch:
        return False
    except Exception as exc:
        logger.info("bulk ADT apply fell back to one by one: %s", type(exc).__name__)
        return False
    for head, result in zip(parsed, results, strict=True):
        if isinstance(result, ValueError):
            _outcome(head, now, None, MappingError(str(result)))
        else:
            how = "created" if result.created else f"matched by {result.matched_by}"
            _outcome(head, now, f"patient #{result.patient.pk} {how}", None)
    return True


T = TypeVar("T")


def _mapped(
    run: list[Message], now: datetime, mapper: Callable[[str, Connector], T]
) -> list[tuple[Message, T]] | None:
    """Each message of a run with what the mapper makes of it. A message whose content
    cannot be mapped is rejected on the spot (its key carries on); None when mapping
    failed for another reason and the run must go one by one."""
    from .hl7v2.inbound import MappingError

    parsed: list[tuple[Message, T]] = []
    for head in run:
        assert head.connector is not None
        try:
            parsed.append((head, mapper(head.raw, head.connector)))
        except MappingError as exc:
            _outcome(head, now, None, exc)
        except Exception:
            return None
    return parsed


class _Again(Exception):
    """Some bookings of the bulk attempt were refused: undo it and go again without them."""


def _apply_bulk_bookings(
    run: list[Message], now: datetime, deferral: _Deferral | None = None
) -> bool:
    """A run of SIU^S12 front-desk bookings: each message's patient upsert, then its
    booking, for the whole run in one savepoint, with one-by-one's outcomes.

    A message whose booking is refused (its units booked by an earlier message, say)
    would have left nothing behind one by one, not even its patient upsert; so the
    attempt is undone and made again without those messages, which are then rejected
    with the same reason. Leaving out a message that changed nothing cannot change what
    the others decide, so the second attempt normally succeeds whole."""
    from patients.mpi import BatchItem, StaleBatch, patient_upsert_batch
    from scheduling.services import (
        BatchDeclined,
        ExternalBooking,
        SchedulingError,
        appointments_record_external_batch,
        external_windows_lock,
    )

    from .hl7v2.inbound import (
        MappingError,
        SiuLookups,
        booking_of,
        scheduling_refusal,
    )

    lookups = SiuLookups()
    parsed = _mapped(run, now, lambda raw, connector: booking_of(raw, connector, lookups))
    if parsed is None:
        return False
    refused: dict[int, Exception] = {}
    why: dict[int, Exception] = {}  # the scheduling refusal itself, for the deferral
    notes: dict[int, str] = {}
    for _attempt in range(3):
        todo = [(head, b) for head, b in parsed if head.pk not in refused]
        notes.clear()
        if not todo:
            break
        try:
            with transaction.atomic():
                # Units (and holds) before patients: the order an agent's booking takes.
                external_windows_lock(windows=[(b.provider.pk, b.start, b.end) for head, b in todo])
                patients = patient_upsert_batch(
                    [BatchItem(b.record, b.location.pk, head.connector_id) for head, b in todo]
                )
                owners: list[Message] = []
                bookings: list[ExternalBooking] = []
                for (head, b), patient in zip(todo, patients, strict=True):
                    if isinstance(patient, ValueError):
                        # No effect of its own; nothing to undo for it.
                        refused[head.pk] = MappingError(str(patient))
                        continue
                    owners.append(head)
                    bookings.append(
                        ExternalBooking(
                            patient_id=patient.patient.pk,
                            provider_id=b.provider.pk,
                            location_id=b.location.pk,
                            appointment_type_id=b.appointment_type.pk,
                            start=b.start,
                            end=b.end,
                            external_id=b.external_id,
                            origin_connector_id=head.connector_id,
                        )
                    )
                again = False
                for head, result in zip(
                    owners, appointments_record_external_batch(bookings), strict=True
                ):
                    if isinstance(result, SchedulingError):
                        refused[head.pk] = scheduling_refusal(result)
                        why[head.pk] = result
                        again = True
                    else:
                        notes[head.pk] = f"appointment #{result.pk} booked"
                if again:
                    raise _Again()
        except _Again:
            continue
        except (StaleBatch, BatchDeclined):
            return False
        except Exception as exc:
            logger.info("bulk SIU apply fell back to one by one: %s", type(exc).__name__)
            return False
        break
    else:
        return False
    for head, _ in parsed:
        if head.pk in refused:
            if deferral is None or not deferral.take(head, why.get(head.pk, refused[head.pk])):
                _outcome(head, now, None, refused[head.pk])
        else:
            _outcome(head, now, notes[head.pk], None)
    return True


def _apply_bulk_changes(
    run: list[Message], now: datetime, deferral: _Deferral | None = None
) -> bool:
    """A run of SIU^S13/S14 modifications, S15 cancellations and S26 no-shows in ONE
    savepoint. No patient changes ride on them, so a refused one has nothing to undo: it
    is rejected with the reason one by one would give, and the rest of the run stands."""
    from scheduling.services import (
        BatchDeclined,
        ExternalChange,
        SchedulingError,
        appointments_change_external_batch,
    )

    from .hl7v2.inbound import (
        ERR_APPT_UNKNOWN,
        FrontDeskChange,
        MappingError,
        SiuLookups,
        appointment_ids_of,
        change_of,
        scheduling_refusal,
    )

    notes = {"modified": "updated", "cancelled": "cancelled", "no_show": "no-show"}
    lookups = SiuLookups()
    parsed = _mapped(run, now, lambda raw, connector: change_of(raw, connector, lookups))
    if parsed is None:
        return False
    outcomes: list[tuple[Message, str | None, Exception | None]] = []
    try:
        with transaction.atomic():
            owners: list[tuple[Message, FrontDeskChange]] = []
            items: list[ExternalChange] = []
            for (head, change), appointment_id in zip(
                parsed, appointment_ids_of([c for _, c in parsed]), strict=True
            ):
                if appointment_id is None:
                    outcomes.append((head, None, MappingError(ERR_APPT_UNKNOWN)))
                    continue
                if change.problem is not None:
                    outcomes.append((head, None, change.problem))
                    continue
                owners.append((head, change))
                items.append(
                    ExternalChange(
                        appointment_id=appointment_id,
                        event=change.event,
                        start=change.start,
                        end=change.end,
                        provider_id=change.provider.pk if change.provider else None,
                        appointment_type_id=(
                            change.appointment_type.pk if change.appointment_type else None
                        ),
                        origin_connector_id=head.connector_id,
                    )
                )
            for (head, change), result in zip(
                owners, appointments_change_external_batch(items), strict=True
            ):
                if isinstance(result, SchedulingError):
                    if deferral is None or not deferral.take(head, result):
                        outcomes.append((head, None, scheduling_refusal(result)))
                else:
                    said = f"appointment #{result.pk} {notes[change.event]}"
                    outcomes.append((head, said, None))
    except BatchDeclined:
        return False
    except Exception as exc:
        logger.info("bulk SIU change apply fell back to one by one: %s", type(exc).__name__)
        return False
    for head, note, error in outcomes:
        _outcome(head, now, note, error)
    return True


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
    schedule, and ``_Deferral`` gives those bookings and moves their arrival-order
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


def inbound_drain_batch(keys: list[str], *, limit: int = 500) -> int:
    """Apply the due messages of many patient keys in ONE transaction.

    One commit for the lot is what makes a worker fast: a commit waits for the disk.
    FIFO per key still holds: rows are locked in arrival order (the same order in every
    worker, so two workers cannot deadlock), and a key whose message fails transiently,
    or whose head is waiting for its retry, gets nothing more applied in this batch.
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
            .filter(
                direction=Message.Direction.INBOUND,
                ordering_key__in=keys,
                status__in=PENDING_INBOUND,
            )
            .order_by("received_at", "id")[:limit]
        )
        deferral = _Deferral(rows)
        touched: list[Message] = []
        _apply_rows(_in_waves(rows), now, touched, deferral)
        if deferral.rows:
            # Once, in arrival order, with everything else applied; refused now is final.
            later = sorted(deferral.rows, key=lambda m: (m.received_at, m.pk))
            _apply_rows(later, now, touched, None)
        _record_all(touched)
    return len(touched)


def _apply_rows(
    rows: list[Message], now: datetime, touched: list[Message], deferral: _Deferral | None
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
