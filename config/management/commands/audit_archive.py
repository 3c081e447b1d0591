from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.audit_archive import ArchiveRefused, audit_archive


class Command(BaseCommand):
    help = (
        "Move audit entries older than the retention period to an archive file and keep a "
        "signed checkpoint of the last one; run as the table's owner (maintenance role)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", help="archive entries before this UTC day (YYYY-MM-DD)")
        parser.add_argument("--out", default=str(settings.VAR_DIR / "audit-archive"))

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["before"]:
            try:
                day = datetime.strptime(opts["before"], "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                raise CommandError("--before must be a date, YYYY-MM-DD") from None
        else:
            now = timezone.now()
            day = now.replace(year=now.year - settings.AUDIT_RETENTION_YEARS)
        try:
            checkpoint = audit_archive(before=day, out_dir=Path(opts["out"]))
        except ArchiveRefused as exc:
            raise CommandError(str(exc)) from None
        if checkpoint is None:
            self.stdout.write("Nothing older than the retention period.")
            return
        self.stdout.write(
            f"Archived through seq {checkpoint.seq} to {checkpoint.archive_name}; "
            f"checkpoint hash {checkpoint.entry_hash}."
        )
