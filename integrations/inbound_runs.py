"""Set-based runs of the inbound batch: many messages of one kind in a few statements.

A run is a stretch of one bulk kind in the batch's order (``integrations.inbound``):
ADT upserts (``patients.mpi.patient_upsert_batch``), front-desk bookings (the same
patient upsert, then ``scheduling.services.appointments_record_external_batch``) and
front-desk changes (``appointments_change_external_batch``). Each run gives every message
the outcome applying it alone would give, or returns False (nothing of it happened) so
the caller applies the run one message per savepoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from django.db import transaction

from .hl7v2.adt import record_of
from .hl7v2.clinical import apply_facts, may_carry_facts
from .hl7v2.fields import MappingError, parse_or_reject
from .hl7v2.siu import (
    ERR_APPT_UNKNOWN,
    FrontDeskChange,
    SiuLookups,
    appointment_ids_of,
    booking_of,
    change_of,
    scheduling_refusal,
)
from .inbound_apply import inbound_outcome
from .models import Connector, Message

logger = logging.getLogger(__name__)

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


class Deferral:
    """Front-desk bookings and moves refused for want of free units, set aside to be
    tried again at the end of the batch.

    A batch applies each patient's messages in order but, for speed, not the different
    patients' messages in arrival order (the waves of ``integrations.inbound``). So a
    booking may meet a unit that another patient's cancellation, which arrived first,
    has not freed yet. Trying such a refusal again once everything else in the batch is
    applied gives it the outcome arrival order would. Only a patient's last message in
    the batch is set aside: anything behind it in the patient's queue must see it
    applied first.
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


def apply_bulk_adt(run: list[Message], now: datetime) -> bool:
    """A run of ADT upserts in ONE savepoint."""
    from patients.mpi import BatchItem, StaleBatch, patient_upsert_batch

    items: list[BatchItem] = []
    parsed: list[Message] = []
    for head in run:
        assert head.connector is not None
        try:
            record = record_of(head.raw, head.connector)
        except MappingError as exc:
            inbound_outcome(head, now, None, exc)  # rejected; its key carries on
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
            inbound_outcome(head, now, None, MappingError(str(result)))
            continue
        how = "created" if result.created else f"matched by {result.matched_by}"
        note = f"patient #{result.patient.pk} {how}"
        assert head.connector is not None
        if may_carry_facts(head.raw, head.connector):
            try:
                with transaction.atomic():
                    facts = apply_facts(parse_or_reject(head.raw), head.connector, result.patient)
            except MappingError as exc:
                inbound_outcome(head, now, None, exc)
                continue
            note += f"; {facts} clinical facts" if facts else ""
        inbound_outcome(head, now, note, None)
    return True


T = TypeVar("T")


def _mapped(
    run: list[Message], now: datetime, mapper: Callable[[str, Connector], T]
) -> list[tuple[Message, T]] | None:
    """Each message of a run with what the mapper makes of it. A message whose content
    cannot be mapped is rejected on the spot (its key carries on); None when mapping
    failed for another reason and the run must go one by one."""
    parsed: list[tuple[Message, T]] = []
    for head in run:
        assert head.connector is not None
        try:
            parsed.append((head, mapper(head.raw, head.connector)))
        except MappingError as exc:
            inbound_outcome(head, now, None, exc)
        except Exception:
            return None
    return parsed


class _Again(Exception):
    """Some bookings of the bulk attempt were refused: undo it and go again without them."""


def apply_bulk_bookings(
    run: list[Message], now: datetime, deferral: Deferral | None = None
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
                            room_code=b.room_code,
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
                inbound_outcome(head, now, None, refused[head.pk])
        else:
            inbound_outcome(head, now, notes[head.pk], None)
    return True


def apply_bulk_changes(run: list[Message], now: datetime, deferral: Deferral | None = None) -> bool:
    """A run of SIU^S13/S14 modifications, S15 cancellations and S26 no-shows in ONE
    savepoint. No patient changes ride on them, so a refused one has nothing to undo: it
    is rejected with the reason one by one would give, and the rest of the run stands."""
    from scheduling.services import (
        BatchDeclined,
        ExternalChange,
        SchedulingError,
        appointments_change_external_batch,
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
        inbound_outcome(head, now, note, error)
    return True
