from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations.x12.submission import claims_submit


class Command(BaseCommand):
    help = "Scrub pending claims and write the clean ones as 837P batches to the clearinghouse (or --out DIR)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out", type=Path, default=None, help="Write the 837P files here instead"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        result = claims_submit(out_dir=opts["out"])
        for b in result.written:
            self.stdout.write(
                f"Wrote batch ISA {b.interchange_control_number:09d} for {b.payer}: "
                f"{b.claims} claim(s), ${b.total} -> {b.destination}"
            )
        if not result.written:
            self.stdout.write("No clean claims to submit.")
        for number, findings in sorted(result.held.items()):
            self.stdout.write(
                f"Held {number}: " + "; ".join(f"{f.code}: {f.message}" for f in findings)
            )
        for number in result.waiting:
            self.stdout.write(f"Waiting {number}: no clearinghouse connector for its payer")
        for error in result.errors:
            self.stderr.write(error)
        self.stdout.write(
            f"Summary: {sum(b.claims for b in result.written)} claim(s) written in "
            f"{len(result.written)} batch(es), {len(result.held)} held by the scrubber, "
            f"{len(result.waiting)} waiting for a connector."
        )
