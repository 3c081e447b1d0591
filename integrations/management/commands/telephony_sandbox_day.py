"""Play a day of sandbox calls through a running hub's telephony webhook."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integrations.telephony.sandbox import SandboxTelephony, http_transport, sandbox_day
from scheduling.hubs.traffic import RegionTraffic, day_of_calls
from scheduling.models import AgentPresence, HubLine, Presence


class Command(BaseCommand):
    help = (
        "Place a day of calls per region (Poisson arrivals, exponential handle times) "
        "through the telephony webhook, answering as the agents the hubs choose."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/integrations/telephony/events/")
        parser.add_argument("--calls-per-hour", type=float, default=12, help="per region")
        parser.add_argument("--handle-seconds", type=float, default=240)
        parser.add_argument("--urgent-share", type=float, default=0.05)
        parser.add_argument("--hours", type=float, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--staff", type=int, default=2, help="agents per hub made available at opening"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if not settings.TELEPHONY_AUTH_TOKEN:
            raise CommandError("Set TELEPHONY_AUTH_TOKEN (the hub must have the same one).")
        lines = {
            str(line.region_id): line.number
            for line in HubLine.objects.filter(region__isnull=False, urgent=False)
        }
        if not lines:
            raise CommandError("No region has a line: run seed_demo or add hub lines in admin.")
        opens_at = datetime.combine(
            timezone.localdate(), time(8), tzinfo=ZoneInfo(settings.TIME_ZONE)
        )
        for hub_id in AgentPresence.objects.values_list("hub_id", flat=True).distinct():
            pks = AgentPresence.objects.filter(hub_id=hub_id).values_list("pk", flat=True)
            AgentPresence.objects.filter(pk__in=list(pks[: opts["staff"]])).update(
                state=Presence.AVAILABLE, state_since=opens_at, idle_since=opens_at
            )
        traffic = RegionTraffic(
            opts["calls_per_hour"], opts["handle_seconds"], opts["urgent_share"]
        )
        calls = day_of_calls(dict.fromkeys(lines, traffic), hours=opts["hours"], seed=opts["seed"])
        phone = SandboxTelephony(url=opts["url"], transport=http_transport(opts["url"]))
        counts = sandbox_day(phone, calls, lines=lines, opens_at=opens_at)
        self.stdout.write(f"offered {counts['offered']}, answered {counts['answered']}")
