from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.models import Connector
from integrations.x12.clearinghouse import clearinghouse_collect


class Command(BaseCommand):
    help = "Pick up 271/999/277CA/835 files from every clearinghouse inbox and post them."

    def handle(self, *args: Any, **opts: Any) -> None:
        total = 0
        for connector in Connector.objects.filter(role=Connector.Role.CLEARINGHOUSE, enabled=True):
            for line in clearinghouse_collect(connector=connector):
                self.stdout.write(f"{connector.name}: {line}")
                total += 1
        self.stdout.write(f"{total} file(s) picked up.")
