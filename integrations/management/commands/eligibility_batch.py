from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.eligibility_batch import Throttle
from billing.models import EligibilityBatchRun
from integrations.x12.inquiry import eligibility_batch_send


class Command(BaseCommand):
    help = "Check eligibility (X12 270/271) for every appointment in the next N days, throttled per payer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.ELIGIBILITY_BATCH_DAYS)
        parser.add_argument(
            "--no-throttle",
            action="store_true",
            help="Ignore Payer.max_requests_per_minute (sandbox payers only)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        days = opts["days"]
        if not 1 <= days <= 90:
            raise CommandError(f"--days must be between 1 and 90 (got {days})")

        def progress(run: EligibilityBatchRun) -> None:
            self.stdout.write(f"  ... {run.checked} of {run.total - run.skipped} checked")

        throttle = Throttle(sleep=lambda _s: None) if opts["no_throttle"] else Throttle()
        run = eligibility_batch_send(days=days, throttle=throttle, on_progress=progress)
        self.stdout.write(
            f"Eligibility batch #{run.pk} for the next {days} day(s): {run.total} appointment(s), "
            f"{run.checked} checked, {run.skipped} skipped (checked in the last day or same coverage), "
            f"{run.active} active, {run.inactive} inactive, {run.errors} error(s); "
            f"throttle waited {throttle.waited:.0f}s."
        )
