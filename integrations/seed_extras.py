"""seed_demo hook: wire most demo locations to a sandbox PMS/EHR, so `make run` shows
HL7 flowing both ways (console bookings out as SIU, front-desk bookings and visit
documentation in). The last location stays unconnected on purpose: the demo also
shows a location the relay has nothing to send to.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from scheduling.demo.people import pms_system

from .models import Connector
from .sandbox.system import SandboxPMS


def seed(context: Any) -> str:
    locations = list(context.net.locations)
    wired = locations[:-1] if len(locations) > 1 else locations
    now = timezone.now()
    loaded = 0
    for location in wired:
        code = location.code.upper().replace("-", "")[:20]
        connector, _ = Connector.objects.get_or_create(
            name=f"{location.name} PMS (sandbox)",
            defaults={
                "kind": Connector.Kind.SANDBOX,
                "role": Connector.Role.LOCATION_PMS,
                "direction": Connector.Direction.BOTH,
                "location": location,
                "endpoint": "sandbox",
                "sending_application": f"{code}PMS",
                "sending_facility": code,
                "identifier_system": pms_system(location.code),
            },
        )
        loaded += SandboxPMS(connector).load_schedule(since=now)
    return f"{len(wired)} sandbox PMS connectors, {loaded} upcoming appointments loaded into them"
