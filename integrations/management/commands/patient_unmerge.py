from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from patients.models import PatientMerge
from patients.mpi import patient_unmerge


class Command(BaseCommand):
    help = "Reverse an ADT^A40 merge: the moved appointments, coverage and identifiers go back."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("merge_id", type=int, help="PatientMerge id (admin: Patient merges)")

    def handle(self, *args: Any, **opts: Any) -> None:
        merge = PatientMerge.objects.filter(pk=opts["merge_id"]).first()
        if merge is None:
            raise CommandError(f"No merge #{opts['merge_id']}")
        try:
            restored = patient_unmerge(merge=merge)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        snapshot = merge.snapshot
        self.stdout.write(
            f"Merge #{merge.pk} reversed: patient #{restored.pk} active again with "
            f"{len(snapshot.get('appointments', []))} appointment(s), "
            f"{len(snapshot.get('identifiers', []))} identifier(s), "
            f"{len(snapshot.get('coverages', []))} coverage row(s) moved back."
        )
