from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.hl7v2.ack import ack_code
from integrations.hl7v2.batch import (
    Batch,
    BatchFile,
    batch_ack,
    is_batch,
    parse_batch,
    split_messages,
)
from integrations.inbound import inbound_drain_keys
from integrations.ledger import ConnectorDirectory, Frame, inbound_store_batch
from integrations.mllp import END_BLOCK, START_BLOCK, decode
from integrations.mllp.server import MAX_BATCH, dispatch_to_workers

ERR_EMPTY = "no HL7 v2 message found in {path}"


def _read(path: Path) -> tuple[BatchFile, str]:
    """The file as a batch (FHS/BHS-wrapped, MLLP-framed or plain concatenated MSH
    messages) and why its bytes could not be read as declared ("" when they could)."""
    data = path.read_bytes()
    # Some engines dump what they received with the MLLP frame bytes still around it.
    data = data.replace(START_BLOCK, b"").replace(END_BLOCK, b"\r")
    decoded = decode(data)
    if is_batch(decoded.text):
        return parse_batch(decoded.text), decoded.error
    return BatchFile(batches=[Batch(messages=split_messages(decoded.text))]), decoded.error


class Command(BaseCommand):
    help = (
        "Import a file of HL7 v2 messages (an FHS/BHS batch, MLLP frames or plain "
        "messages): each is stored and acknowledged exactly as if it came over MLLP."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--ack-file", type=Path, help="write the acknowledgment batch (§2.10.3) here"
        )
        parser.add_argument(
            "--process-now",
            action="store_true",
            help="apply the stored messages in this process instead of queueing them",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        received, decode_error = _read(path)
        messages = received.messages
        if not messages or not any(m.startswith("MSH") for m in messages):
            raise CommandError(ERR_EMPTY.format(path=path))
        directory = ConnectorDirectory()
        acks: list[str] = []
        keys: list[str] = []
        duplicates = 0
        for start in range(0, len(messages), MAX_BATCH):
            chunk = [
                Frame(m, decode_error=decode_error) for m in messages[start : start + MAX_BATCH]
            ]
            for stored in inbound_store_batch(chunk, directory=directory):
                acks.append(stored.ack)
                duplicates += stored.duplicate
                if stored.message_id is not None and stored.ordering_key not in keys:
                    keys.append(stored.ordering_key)
        if keys:
            if opts["process_now"]:
                inbound_drain_keys(keys)
            else:
                dispatch_to_workers(keys)
        if opts["ack_file"]:
            opts["ack_file"].write_text(batch_ack(received, acks), encoding="utf-8")
        codes = Counter(ack_code(a) for a in acks)
        summary = ", ".join(f"{code} {codes[code]}" for code in ("AA", "AE", "AR") if codes[code])
        self.stdout.write(f"{len(acks)} messages: {summary}; {duplicates} duplicates")
        if codes["AR"]:
            raise CommandError("the ledger was unavailable; import the file again")
