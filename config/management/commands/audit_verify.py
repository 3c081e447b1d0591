from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from config.audit_chain import audit_verification_record


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain; exit 0 when intact, otherwise name the first "
        "entry altered, removed or inserted out of order and exit 1."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        result = audit_verification_record()
        if not result.intact:
            raise CommandError(f"audit chain broken: {result.problem}")
        self.stdout.write(
            f"audit chain intact: {result.entries} entries checked, head seq "
            f"{result.head_seq or 0} hash {result.head_hash or '-'}"
        )
