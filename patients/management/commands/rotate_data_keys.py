"""Re-encrypt every PHI column under the newest data key, in resumable batches.

Put the new key first in HUB_DATA_KEYS (keep the old ones after it), restart the web
and worker processes so every writer encrypts under it, then run this. It walks each
table holding encrypted columns in primary-key order, a batch per short transaction,
rewriting only values under an older key (or still in clear) with a conditional UPDATE,
so the product keeps serving and a row changed meanwhile is simply left as its writer
stored it. Progress is printed and saved after every batch; a run that stops (Ctrl-C, a
deploy) continues where it left off. ``--check`` writes nothing and exits non-zero while
any value is still under another key: when it passes, the old keys can be removed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.crypto import key_ring
from config.crypto.rotation import TableProgress, encrypted_models, reencrypt_model

STALE = "{n} value(s) in {table} are not yet under data key {kid}"


class Command(BaseCommand):
    help = "Re-encrypt PHI columns under the newest HUB_DATA_KEYS key and refresh blind indexes."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--pause-ms", type=int, default=0, help="Sleep between batches, to spare a busy DB"
        )
        parser.add_argument(
            "--state-file",
            default=str(Path(settings.VAR_DIR) / "rotate_data_keys.json"),
            help="Where progress is saved, to resume an interrupted run",
        )
        parser.add_argument("--restart", action="store_true", help="Ignore saved progress")
        parser.add_argument(
            "--check", action="store_true", help="Write nothing; fail while any value is stale"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        kid = key_ring().primary_id
        state_path = Path(opts["state_file"])
        saved: dict[str, Any] = {}
        if state_path.exists() and not opts["restart"] and not opts["check"]:
            saved = json.loads(state_path.read_text())
            if saved.get("key") != kid:
                saved = {}  # progress towards another key says nothing about this one
        tables: dict[str, int] = saved.get("tables", {})
        pause_s = opts["pause_ms"] / 1000

        def save(progress: TableProgress) -> None:
            tables[progress.table] = -1 if progress.done else progress.last_pk
            if not opts["check"]:
                state_path.write_text(json.dumps({"key": kid, "tables": tables}))
            self.stdout.write(
                f"  {progress.table}: {progress.scanned} rows scanned, "
                f"{progress.rewritten} {'stale' if opts['check'] else 're-encrypted'}, "
                f"{'done' if progress.done else f'at id {progress.last_pk}'}"
            )

        stale_total = 0
        self.stdout.write(f"Data key {kid}{' (check only)' if opts['check'] else ''}:")
        for model in encrypted_models(apps.get_models()):
            table = model._meta.db_table
            start = tables.get(table, 0)
            if start == -1:
                self.stdout.write(f"  {table}: done in an earlier run")
                continue
            progress = reencrypt_model(
                model,
                batch_size=opts["batch_size"],
                start_after=start,
                write=not opts["check"],
                progress=save,
                pause=(lambda: time.sleep(pause_s)) if pause_s else None,
            )
            if opts["check"] and progress.rewritten:
                stale_total += progress.rewritten
                self.stderr.write(STALE.format(n=progress.rewritten, table=table, kid=kid))
        if opts["check"]:
            if stale_total:
                raise CommandError(f"{stale_total} row(s) still need rotate_data_keys")
            self.stdout.write(self.style.SUCCESS(f"Every encrypted value is under key {kid}."))
            return
        state_path.unlink(missing_ok=True)
        self.stdout.write(self.style.SUCCESS(f"Every encrypted value is now under key {kid}."))
