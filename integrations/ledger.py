"""Writes to the message ledger for the MLLP listener: store, commit, then acknowledge.

The listener hands over every frame that arrived since its last commit (from one
connection or many); they are stored in ONE transaction and only after it commits are
the ACKs released. That group commit is what lets one process take well over a
thousand messages a second while keeping "stored before ACK" for every single one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from .hl7v2 import ack as acks
from .hl7v2.reader import Header, HL7FormatError, check_message, patient_key, read_header
from .models import Connector, Message

logger = logging.getLogger(__name__)

ERR_UNKNOWN_SENDER = "unknown sending application/facility"
ERR_DISABLED_SENDER = "sending connector is disabled"
ERR_TYPE_NOT_ALLOWED = "message type not enabled for this connector"
ERR_DATABASE = "database unavailable, resend later"


@dataclass
class Stored:
    """The outcome of one frame: the ACK to send and, if it is new work, its ledger row."""

    ack: str
    ack_code: str
    message_id: int | None = None
    ordering_key: str = ""
    duplicate: bool = False


@dataclass
class _Prepared:
    raw: str
    header: Header | None
    row: Message | None
    result: Stored


class ConnectorDirectory:
    """Inbound connectors by (MSH-3, MSH-4), cached for a few seconds per listener."""

    ttl_seconds = 10.0

    def __init__(self) -> None:
        self._by_sender: dict[str, Connector] = {}
        self._loaded_at = 0.0

    def lookup(self, sender: str) -> Connector | None:
        import time

        if time.monotonic() - self._loaded_at > self.ttl_seconds:
            self._by_sender = {
                f"{c.sending_application}|{c.sending_facility}": c
                for c in Connector.objects.exclude(sending_application="").exclude(
                    direction=Connector.Direction.OUTBOUND
                )
            }
            self._loaded_at = time.monotonic()
        return self._by_sender.get(sender)


def _prepare(raw: str, directory: ConnectorDirectory, now: datetime) -> _Prepared:
    header: Header | None = None
    try:
        header = read_header(raw)
        segments = check_message(header, raw)
        connector = directory.lookup(header.sender)
        if connector is None:
            raise HL7FormatError(ERR_UNKNOWN_SENDER, code="204", field=3)
        if not connector.enabled:
            raise HL7FormatError(ERR_DISABLED_SENDER, code="207", field=3)
        if connector.message_types and header.message_type not in connector.message_types:
            raise HL7FormatError(ERR_TYPE_NOT_ALLOWED, code="200", field=9)
    except HL7FormatError as exc:
        ack = acks.build_ack(
            header,
            acks.AE,
            error=exc.reason,
            error_code=exc.code,
            segment=exc.segment,
            field=exc.field,
        )
        conn_id = None
        if header is not None:
            found = directory.lookup(header.sender)
            conn_id = found.pk if found else None
        row = Message(
            connector_id=conn_id,
            direction=Message.Direction.INBOUND,
            protocol=Message.Protocol.HL7V2,
            message_type=header.message_type[:20] if header else "",
            sender=header.sender[:130] if header else "",
            control_id=header.control_id[:64] if header else "",
            raw=raw,
            sha256=Message.hash_raw(raw),
            status=Message.Status.REJECTED,
            last_error=exc.reason,
            ack_code=acks.AE,
            ack_raw=ack,
            received_at=now,
            processed_at=now,
        )
        return _Prepared(raw, header, row, Stored(ack=ack, ack_code=acks.AE))
    ack = acks.build_ack(header, acks.AA)
    # No patient id: the message orders only against itself.
    key = patient_key(header, segments) or "c" + Message.hash_raw(header.sender + raw)[:31]
    row = Message(
        connector=connector,
        direction=Message.Direction.INBOUND,
        protocol=Message.Protocol.HL7V2,
        message_type=header.message_type,
        sender=header.sender[:130],
        control_id=header.control_id,
        raw=raw,
        sha256=Message.hash_raw(raw),
        status=Message.Status.RECEIVED,
        ack_code=acks.AA,
        ack_raw=ack,
        ordering_key=key,
        received_at=now,
    )
    return _Prepared(raw, header, row, Stored(ack=ack, ack_code=acks.AA, ordering_key=key))


def _insert(items: list[_Prepared]) -> None:
    """Insert the new rows of a batch, answering duplicates with their original ACK."""
    keyed = [p for p in items if p.row is not None and p.row.control_id]
    existing: dict[tuple[str, str], Message] = {}
    if keyed:
        senders = {p.row.sender for p in keyed if p.row}
        controls = {p.row.control_id for p in keyed if p.row}
        for found in Message.objects.filter(
            direction=Message.Direction.INBOUND, sender__in=senders, control_id__in=controls
        ).only("id", "sender", "control_id", "ack_raw", "ack_code"):
            existing[(found.sender, found.control_id)] = found
    to_create: list[_Prepared] = []
    for item in items:
        row = item.row
        assert row is not None
        pair = (row.sender, row.control_id)
        original = existing.get(pair) if row.control_id else None
        if original is not None:
            item.result = Stored(ack=original.ack_raw, ack_code=original.ack_code, duplicate=True)
            item.row = None
            continue
        if row.control_id:
            # A repeat inside this very batch is a duplicate of the first occurrence.
            existing[pair] = row
        to_create.append(item)
    Message.objects.bulk_create([p.row for p in to_create if p.row is not None])
    for item in to_create:
        if item.row is not None and item.row.status == Message.Status.RECEIVED:
            item.result.message_id = item.row.pk


def inbound_store_batch(
    raws: Sequence[str], *, directory: ConnectorDirectory | None = None
) -> list[Stored]:
    """Store frames in the ledger in one transaction; return their ACKs in order.

    Every frame gets an ACK: AA once its row has committed, AE (the row kept as
    rejected) for a message we will never be able to process, the original ACK for a
    duplicate, and AR for all of them when the database cannot be reached, so the
    sender keeps them and resends.
    """
    directory = directory or ConnectorDirectory()
    now = timezone.now()
    try:
        items = [_prepare(raw, directory, now) for raw in raws]
        try:
            with transaction.atomic():
                _insert(items)
        except IntegrityError:
            # Another listener stored one of these (sender, MSH-10) pairs between our
            # read and our insert: store one by one so each duplicate is answered alone.
            for item in items:
                for _attempt in range(2):
                    fresh = _prepare(item.raw, directory, now)
                    try:
                        with transaction.atomic():
                            _insert([fresh])
                        break
                    except IntegrityError:
                        continue
                else:
                    raise DatabaseError("could not store after a dedupe race") from None
                item.result = fresh.result
        return [item.result for item in items]
    except (OperationalError, DatabaseError) as exc:
        # Connection refused, server gone, disk full: nothing was stored, say so.
        logger.warning("ledger unavailable, answering AR: %s", type(exc).__name__)
        with contextlib.suppress(DatabaseError):
            connection.close()
        results = []
        for raw in raws:
            try:
                header: Header | None = read_header(raw)
            except HL7FormatError:
                header = None
            ack = acks.build_ack(header, acks.AR, error=ERR_DATABASE, error_code="207")
            results.append(Stored(ack=ack, ack_code=acks.AR))
        return results
