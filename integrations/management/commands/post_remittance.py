from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.x12.clearinghouse import remittance_post


class Command(BaseCommand):
    help = "Post an X12 835 remittance file: payments, adjustments, denials; idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"]
        try:
            raw = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
        result = remittance_post(raw=raw)
        if result.error:
            raise CommandError(
                f"{path.name}: {result.summary()} (kept in the ledger as message #{result.message_id}; no balance changed)"
            )
        self.stdout.write(f"{path.name}: {result.summary()}")
