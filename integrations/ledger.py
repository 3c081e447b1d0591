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

from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.utils import timezone

from .hl7v2 import ack as acks
from .hl7v2.reader import Header, HL7FormatError, check_message, patient_key, read_header
from .inbound_duplicates import (
    ERR_CONTROL_ID_REUSED,
    Seen,
    classify,
    content_hash,
    earlier_messages,
)
from .mllp.peers import Peer, peer_refusal
from .models import Connector, Message

logger = logging.getLogger(__name__)

ERR_UNKNOWN_SENDER = "unknown sending application/facility"
ERR_DISABLED_SENDER = "sending connector is disabled"
ERR_TYPE_NOT_ALLOWED = "message type not enabled for this connector"
ERR_DATABASE = "database unavailable, resend later"
ERR_NUL = "frame contains a NUL byte (0x00), which HL7 v2 text cannot carry"
ERR_UNSTORABLE = "the ledger cannot store this frame's characters; kept escaped"
ERR_PROCESSING_ID = "MSH-11 processing id {got} refused: this connector applies only {wanted}"


class PeerRefused(HL7FormatError):
    """The peer on the socket may not send as the connector the message names."""


@dataclass(frozen=True)
class Frame:
    """One message as it arrived: its text, the peer it came from, and why its bytes
    could not be read as declared ("" when they could)."""

    raw: str
    peer: Peer | None = None
    decode_error: str = ""


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
    frame: Frame
    header: Header | None
    row: Message | None
    result: Stored


# Bumped (on commit) whenever a Connector is saved or deleted in this process.
_connector_generation = 0


def connectors_changed(**_: object) -> None:
    """post_save/post_delete receiver: listeners in this process reload their directory."""

    def bump() -> None:
        global _connector_generation
        _connector_generation += 1

    transaction.on_commit(bump)


class ConnectorDirectory:
    """Inbound connectors by (MSH-3, MSH-4), cached for a few seconds per listener.

    A brand-new connector must work at once, not after the cache expires: a save in this
    process invalidates the cache (connectors_changed), and an unknown sender makes a
    listener in another process (the admin saved it elsewhere) re-read the table, at
    most once a second so a stream from an unknown sender cannot hammer the database.
    """

    ttl_seconds = 10.0
    miss_reload_seconds = 1.0

    def __init__(self) -> None:
        self._by_sender: dict[str, Connector] = {}
        self._loaded_at = 0.0
        self._generation = -1

    def _load(self, now: float) -> None:
        self._by_sender = {
            f"{c.sending_application}|{c.sending_facility}": c
            for c in Connector.objects.exclude(sending_application="").exclude(
                direction=Connector.Direction.OUTBOUND
            )
        }
        self._loaded_at = now
        self._generation = _connector_generation

    def lookup(self, sender: str) -> Connector | None:
        import time

        now = time.monotonic()
        if now - self._loaded_at > self.ttl_seconds or self._generation != _connector_generation:
            self._load(now)
        found = self._by_sender.get(sender)
        if found is None and now - self._loaded_at > self.miss_reload_seconds:
            self._load(now)
            found = self._by_sender.get(sender)
        return found


def _unstorable(raw: str) -> str:
    """``raw`` with the characters no database column can hold written as HL7 hex
    escapes (v2.5.1 ch. 2 §2.7, ``\\Xhh\\``). PostgreSQL text refuses NUL; the frame
    is refused with AE and its escaped copy is what the ledger keeps for inspection."""
    return raw.replace("\x00", "\\X00\\")


def _refuse(
    frame: Frame,
    header: Header | None,
    exc: HL7FormatError,
    directory: ConnectorDirectory,
    now: datetime,
    raw: str | None = None,
) -> _Prepared:
    """A frame answered AE, kept in the ledger as rejected with the reason."""
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
    kept = raw if raw is not None else frame.raw
    row = Message(
        connector_id=conn_id,
        direction=Message.Direction.INBOUND,
        protocol=Message.Protocol.HL7V2,
        message_type=header.message_type[:20] if header else "",
        sender=header.sender[:130] if header else "",
        # A frame from the wrong peer is not the connector's message: it must not take a
        # control id the real sender will use (its MSH-10 stays in raw and in the ACK).
        control_id=header.control_id[:64] if header and not isinstance(exc, PeerRefused) else "",
        raw=kept,
        sha256=Message.hash_raw(frame.raw),
        content_hash=content_hash(kept),
        status=Message.Status.REJECTED,
        last_error=exc.reason,
        ack_code=acks.AE,
        ack_raw=ack,
        received_at=now,
        processed_at=now,
    )
    return _Prepared(frame, header, row, Stored(ack=ack, ack_code=acks.AE))


def _admit(header: Header, frame: Frame, directory: ConnectorDirectory) -> Connector:
    """The connector this message is for, or HL7FormatError saying why it is refused."""
    connector = directory.lookup(header.sender)
    if connector is None:
        raise HL7FormatError(ERR_UNKNOWN_SENDER, code="204", field=3, header=header)
    refusal = peer_refusal(connector, frame.peer)
    if refusal:
        raise PeerRefused(refusal, code="204", field=3, header=header)
    if not connector.enabled:
        raise HL7FormatError(ERR_DISABLED_SENDER, code="207", field=3, header=header)
    if connector.message_types and header.message_type not in connector.message_types:
        raise HL7FormatError(ERR_TYPE_NOT_ALLOWED, code="200", field=9, header=header)
    if header.processing_id != connector.processing_id:
        # HL7 table 0103: P production, T training, D debugging. A training message
        # applied to a production connector would change real patients.
        raise HL7FormatError(
            ERR_PROCESSING_ID.format(
                got=header.processing_id[:1] or "(empty)", wanted=connector.processing_id
            ),
            code="202",
            field=11,
            header=header,
        )
    return connector


def _prepare(frame: Frame, directory: ConnectorDirectory, now: datetime) -> _Prepared:
    raw = frame.raw
    header: Header | None = None
    if "\x00" in raw:
        escaped = _unstorable(raw)
        try:
            header = read_header(escaped)
        except HL7FormatError as exc:
            header = exc.header
        return _refuse(frame, header, HL7FormatError(ERR_NUL, code="102"), directory, now, escaped)
    if frame.decode_error:
        try:
            header = read_header(raw)
        except HL7FormatError as exc:
            header = exc.header
        refusal = HL7FormatError(frame.decode_error, code="102", field=18)
        return _refuse(frame, header, refusal, directory, now)
    try:
        header = read_header(raw)
        segments = check_message(header, raw)
        connector = _admit(header, frame, directory)
    except HL7FormatError as exc:
        return _refuse(frame, header or exc.header, exc, directory, now)
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
        content_hash=content_hash(raw),
        status=Message.Status.RECEIVED,
        ack_code=acks.AA,
        ack_raw=ack,
        ordering_key=key,
        received_at=now,
    )
    return _Prepared(frame, header, row, Stored(ack=ack, ack_code=acks.AA, ordering_key=key))


def _reused(item: _Prepared, directory: ConnectorDirectory, now: datetime) -> _Prepared:
    exc = HL7FormatError(ERR_CONTROL_ID_REUSED, code="205", field=10, header=item.header)
    return _refuse(item.frame, item.header, exc, directory, now)


def _insert(items: list[_Prepared], directory: ConnectorDirectory, now: datetime) -> None:
    """Insert the new rows of a batch: a duplicate is answered with its first ACK, a
    correction is stored as new, a reused control id is refused (``inbound_duplicates``)."""
    earlier = earlier_messages((p.row.sender, p.row.control_id) for p in items if p.row is not None)
    to_create: list[_Prepared] = []
    for index, item in enumerate(items):
        row = item.row
        assert row is not None
        pair = (row.sender, row.control_id)
        if row.control_id:
            seen, original = classify(row.content_hash, earlier.get(pair, []))
            if seen is Seen.DUPLICATE:
                assert original is not None
                item.result = Stored(
                    ack=original.ack_raw, ack_code=original.ack_code, duplicate=True
                )
                item.row = None
                continue
            if seen is Seen.REUSED and row.ack_code == acks.AA:
                item = items[index] = _reused(item, directory, now)
                row = item.row
                assert row is not None
            # A repeat inside this very batch is answered from this first occurrence.
            earlier.setdefault(pair, []).append(row)
        to_create.append(item)
    Message.objects.bulk_create([p.row for p in to_create if p.row is not None])
    for item in to_create:
        if item.row is not None and item.row.status == Message.Status.RECEIVED:
            item.result.message_id = item.row.pk


def _store_one_by_one(items: list[_Prepared], directory: ConnectorDirectory, now: datetime) -> None:
    """Store each frame in its own transaction, so that one the database cannot take
    (or a dedupe race with another listener) is answered alone and the others commit.

    A frame the database refuses for its content (``DataError``: a value it cannot
    hold) gets AE and is kept with its text escaped; that is permanent, and AR would
    make the sender resend it forever. Connection loss still propagates (AR for all).
    """
    for index, item in enumerate(items):
        for _attempt in range(2):
            fresh = _prepare(item.frame, directory, now)
            try:
                with transaction.atomic():
                    _insert([fresh], directory, now)
                break
            except IntegrityError:
                continue  # another listener stored this pair: read again, answer from it
            except DataError:
                logger.warning("ledger refused a frame's content; kept escaped, answered AE")
                fresh = _refuse(
                    item.frame,
                    fresh.header,
                    HL7FormatError(ERR_UNSTORABLE, code="102"),
                    directory,
                    now,
                    item.frame.raw.encode("unicode_escape").decode("ascii"),
                )
                with transaction.atomic():
                    _insert([fresh], directory, now)
                break
        else:
            raise DatabaseError("could not store after a dedupe race") from None
        items[index] = fresh


def inbound_store_batch(
    frames: Sequence[str | Frame], *, directory: ConnectorDirectory | None = None
) -> list[Stored]:
    """Store frames in the ledger in one transaction; return their ACKs in order.

    Every frame gets an ACK: AA once its row has committed, AE (the row kept as
    rejected) for a message we will never be able to process, the original ACK for a
    duplicate, and AR for all of them only when the database cannot be reached (a real
    outage), so the sender keeps them and resends. A frame the database refuses for its
    own content never turns its neighbours' answers into AR.
    """
    directory = directory or ConnectorDirectory()
    now = timezone.now()
    given = [f if isinstance(f, Frame) else Frame(f) for f in frames]
    try:
        items = [_prepare(frame, directory, now) for frame in given]
        try:
            with transaction.atomic():
                _insert(items, directory, now)
        except (IntegrityError, DataError):
            _store_one_by_one(items, directory, now)
        return [item.result for item in items]
    except (OperationalError, InterfaceError, DatabaseError) as exc:
        # Connection refused, server gone, disk full: nothing was stored, say so.
        logger.warning("ledger unavailable, answering AR: %s", type(exc).__name__)
        with contextlib.suppress(DatabaseError):
            connection.close()
        results = []
        for frame in given:
            try:
                header: Header | None = read_header(frame.raw)
            except HL7FormatError as exc:
                header = exc.header
            ack = acks.build_ack(header, acks.AR, error=ERR_DATABASE, error_code="207")
            results.append(Stored(ack=ack, ack_code=acks.AR))
        return results
