"""The demo's federated model: one hub per region, each overflowing to the next, a line
per region plus an urgent line and the main number, and every agent on their home
region's hub (away until they say otherwise)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from scheduling.models import AgentPresence, AgentProfile, Hub, HubLine, HubRegion, Presence

MAIN_LINE = "8005550100"


def region_line(index: int) -> str:
    return f"30355501{index:02d}"


def urgent_line(index: int) -> str:
    return f"30355502{index:02d}"


def build_hubs(regions: list[Any]) -> int:
    """Returns how many hubs it made (none when hubs already exist)."""
    if Hub.objects.exists() or not regions:
        return 0
    now = timezone.now()
    hubs = []
    for i, region in enumerate(regions):
        hub = Hub.objects.create(name=f"{region.name} hub")
        HubRegion.objects.create(hub=hub, region=region)
        HubLine.objects.create(number=region_line(i), region=region, label=f"{region.name}")
        HubLine.objects.create(
            number=urgent_line(i), region=region, urgent=True, label=f"{region.name} urgent"
        )
        hubs.append(hub)
    for i, hub in enumerate(hubs):
        hub.overflow_to = hubs[(i + 1) % len(hubs)] if len(hubs) > 1 else None
        hub.save(update_fields=["overflow_to"])
    HubLine.objects.create(number=MAIN_LINE, label="Main number")
    by_region = {link.region_id: link.hub for link in HubRegion.objects.select_related("hub")}
    for profile in AgentProfile.objects.select_related("user"):
        home = profile.home_region_id
        hub = (by_region.get(home) if home is not None else None) or hubs[0]
        AgentPresence.objects.get_or_create(
            user=profile.user, defaults={"hub": hub, "state": Presence.AWAY, "state_since": now}
        )
    return len(hubs)
