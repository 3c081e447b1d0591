"""A local SMTP server for the demo (aiosmtpd): every email the hub sends is kept as an
.eml file under var/mail/, so a reminder and its calendar invitation can be opened."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone


class Maildir:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        (self.folder / f"{stamp}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted"


class Command(BaseCommand):
    help = "Run the demo's local SMTP server; mail lands in var/mail/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1025)

    def handle(self, *args: Any, **opts: Any) -> None:
        from aiosmtpd.controller import Controller

        folder = Path(settings.VAR_DIR) / "mail"
        controller = Controller(Maildir(folder), hostname=opts["host"], port=opts["port"])
        controller.start()
        self.stdout.write(f"SMTP server on {opts['host']}:{opts['port']}, mail in {folder}")
        try:
            while True:
                time.sleep(3600)
        finally:
            controller.stop()
