"""Archiving the oldest part of the audit chain without breaking it.

Entries older than the retention period (six years, HIPAA 164.316(b)(2)) are written to
an archive file, one JSON line each with its hashes and the exact canonical content that
was hashed, so the archive verifies on its own. A checkpoint (the last archived entry's
sequence number and hash, signed with a key derived from SECRET_KEY) is stored, and only
then are the archived rows removed; ``audit_verify`` starts from the checkpoint. Removing
rows needs the triggers lifted, which only the table's owner can do: this runs as the
maintenance role, never as the application's role, and does it in one transaction.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from config import audit_triggers
from config.audit_chain import chain_verify, chained_entries, checkpoint_latest, checkpoint_sign
from config.audit_hash import canonical
from config.models import AuditCheckpoint, AuditLink

ERR_BROKEN = "the chain is broken; archive nothing until audit_verify passes: {}"


class ArchiveRefused(Exception):
    pass


def audit_archive(*, before: datetime, out_dir: Path) -> AuditCheckpoint | None:
    """Archive every entry older than ``before`` (None when there is nothing to do)."""
    with transaction.atomic():
        report = chain_verify()
        if not report.intact:
            raise ArchiveRefused(ERR_BROKEN.format(report.problem))
        previous = checkpoint_latest(connection.alias)
        start = previous.seq if previous else 0
        last = (
            AuditLink.objects.filter(seq__gt=start, entry__timestamp__lt=before)
            .order_by("-seq")
            .values("seq", "entry_hash")
            .first()
        )
        if last is None:
            return None
        name = f"audit-{start + 1:012d}-{last['seq']:012d}.jsonl"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / name
        # The diffs hold PHI in clear: the file is the owner's only, like the key file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as archive:
            rows = (
                chained_entries()
                .filter(link__seq__gt=start, link__seq__lte=last["seq"])
                .iterator(chunk_size=2000)
            )
            for row in rows:
                archive.write(json.dumps(_line(row), sort_keys=True) + "\n")
        checkpoint = AuditCheckpoint.objects.create(
            seq=last["seq"],
            entry_hash=last["entry_hash"],
            signature=checkpoint_sign(last["seq"], last["entry_hash"]),
            archive_name=name,
        )
        _remove_through(last["seq"])
    return checkpoint


def _line(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "seq": row["seq"],
        "prev_hash": row["prev_hash"],
        "entry_hash": row["entry_hash"],
        "content": canonical(row),
    }


def _remove_through(seq: int) -> None:
    vendor = connection.vendor
    entries = connection.ops.quote_name(audit_triggers.TABLE)
    links = connection.ops.quote_name(audit_triggers.LINK_TABLE)
    with connection.cursor() as cursor:
        for statement in audit_triggers.drop_sql(vendor):
            cursor.execute(statement)
        cursor.execute(
            f"DELETE FROM {entries} WHERE id IN "  # noqa: S608
            f"(SELECT entry_id FROM {links} WHERE seq <= %s)",
            [seq],
        )
        cursor.execute(f"DELETE FROM {links} WHERE seq <= %s", [seq])  # noqa: S608
        for statement in audit_triggers.install_sql(vendor):
            cursor.execute(statement)
