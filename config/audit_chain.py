"""Walking the audit chain to verify it, checkpoints, and the recorded results.

How entries are hashed is in ``config.audit_hash``; how they are sealed into the chain,
and why after the writer's commit, in ``config.audit_seal``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet

from config.audit_hash import GENESIS, HASHED_FIELDS, entry_hash
from config.audit_seal import chain_seal
from config.models import AuditCheckpoint, AuditEntry, AuditVerification


def audit_seal(*, using: str = "default") -> int:
    """Seal every committed, pending entry now (the beat task, audit_verify, tests)."""
    return chain_seal(using=using)


def audit_pending() -> int:
    """Entries written but not sealed yet (committed a moment ago, or left by a crash)."""
    return AuditEntry.objects.filter(pending__isnull=False, link__isnull=True).count()


def chained_entries(using: str = "default") -> QuerySet[AuditEntry, dict[str, Any]]:
    """Every linked entry as ``values()``, with its link's ``seq``, ``prev_hash`` and
    ``entry_hash``, in chain order. An inner join: a link whose entry was removed
    reads as a gap in ``seq``."""
    return (
        AuditEntry.objects.using(using)
        .order_by("link__seq")
        .values(
            "id",
            *(f for f in HASHED_FIELDS if f != "seq"),
            seq=F("link__seq"),
            prev_hash=F("link__prev_hash"),
            entry_hash=F("link__entry_hash"),
        )
    )


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    entries: int
    head_seq: int | None
    head_hash: str
    broken_seq: int | None = None
    broken_entry_id: int | None = None
    problem: str = ""


def _walk(using: str, start_seq: int) -> Iterator[dict[str, Any]]:
    return chained_entries(using).filter(link__seq__gt=start_seq).iterator(chunk_size=2000)


def chain_verify(*, using: str = "default") -> ChainReport:
    """Walk the chain from the latest checkpoint (or the start) and report the first
    entry that was altered, removed, or inserted out of order."""
    checkpoint = checkpoint_latest(using)
    if checkpoint is not None and not checkpoint_signature_ok(checkpoint):
        return ChainReport(
            False, 0, None, "", checkpoint.seq, None, "the checkpoint's signature is wrong"
        )
    seq, prev = (checkpoint.seq, checkpoint.entry_hash) if checkpoint else (0, GENESIS)
    count = 0
    for row in _walk(using, seq):
        count += 1
        expected = seq + 1
        if row["seq"] != expected:
            return ChainReport(
                False,
                count,
                seq,
                prev,
                expected,
                row["id"],
                f"entry seq {expected} is missing: removed, or entry id {row['id']} "
                f"(seq {row['seq']}) was inserted out of order",
            )
        if row["prev_hash"] != prev:
            return ChainReport(
                False,
                count,
                seq,
                prev,
                row["seq"],
                row["id"],
                f"entry seq {row['seq']} (id {row['id']}) does not follow entry seq {seq}: "
                "inserted out of order, or its predecessor was replaced",
            )
        if entry_hash(prev, row) != row["entry_hash"]:
            return ChainReport(
                False,
                count,
                seq,
                prev,
                row["seq"],
                row["id"],
                f"entry seq {row['seq']} (id {row['id']}) was altered: its content does not "
                "match its hash",
            )
        seq, prev = row["seq"], row["entry_hash"]
    # Every entry is linked or waiting for its seal; one that is neither had its pending
    # mark removed (or was inserted with the trigger dropped) to keep it out of the chain.
    stray = (
        AuditEntry.objects.using(using)
        .filter(link__isnull=True, pending__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if stray is not None:
        return ChainReport(
            False,
            count,
            seq,
            prev,
            None,
            stray,
            f"entry id {stray} is outside the chain: it has no link and is not pending",
        )
    return ChainReport(True, count, seq, prev)


# --- checkpoints (archiving a prefix of the chain) ------------------------------------------


def _checkpoint_key() -> bytes:
    return hashlib.sha256(b"carehub audit checkpoint\n" + settings.SECRET_KEY.encode()).digest()


def checkpoint_sign(seq: int, entry_hash_: str) -> str:
    return hmac.new(_checkpoint_key(), f"{seq}:{entry_hash_}".encode(), "sha256").hexdigest()


def checkpoint_signature_ok(checkpoint: Any) -> bool:
    return hmac.compare_digest(
        checkpoint.signature, checkpoint_sign(checkpoint.seq, checkpoint.entry_hash)
    )


def checkpoint_latest(using: str) -> Any:
    return AuditCheckpoint.objects.using(using).order_by("-seq").first()


def audit_verification_record(*, using: str = "default") -> Any:
    """Seal what is pending, verify the chain and keep the result, which integration
    health shows."""
    audit_seal(using=using)
    report = chain_verify(using=using)
    return AuditVerification.objects.using(using).create(
        intact=report.intact,
        entries=report.entries,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        broken_seq=report.broken_seq,
        broken_entry_id=report.broken_entry_id,
        problem=report.problem,
    )


def audit_verification_latest() -> Any:
    """The last recorded verification (None before the first nightly run)."""
    return AuditVerification.objects.order_by("-checked_at", "-pk").first()
