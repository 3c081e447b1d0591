"""seed_demo hook: wire the demo locations to sandbox location systems, so `make run`
shows data flowing both ways. All locations but the last get a sandbox PMS (HL7 v2:
console bookings out as SIU, front-desk bookings and visit documentation in as SIU and
DFT); the last gets a sandbox EHR instead (FHIR: bookings out as Appointment, finished
Encounters with Conditions and Procedures polled in).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from scheduling.demo.people import ehr_system, pms_system

from .models import Connector
from .sandbox.system import SandboxPMS
from .x12.seed import clearinghouse_seed


def seed(context: Any) -> str:
    # The clearinghouse goes first: it sends what billing's seed (run just before) left.
    return f"{clearinghouse_seed(context)}; {_locations_seed(context)}"


def _locations_seed(context: Any) -> str:
    locations = list(context.net.locations)
    if not locations:
        return "no locations"
    with_pms = locations[:-1] if len(locations) > 1 else locations
    now = timezone.now()
    loaded = 0
    for location in with_pms:
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
    ehr_sites = [loc for loc in locations if loc not in with_pms]
    for location in ehr_sites:
        Connector.objects.get_or_create(
            name=f"{location.name} EHR (sandbox, FHIR)",
            defaults={
                "kind": Connector.Kind.SANDBOX,
                "role": Connector.Role.LOCATION_EHR,
                "direction": Connector.Direction.BOTH,
                "location": location,
                "endpoint": "sandbox",
                "identifier_system": ehr_system(location.code),
            },
        )
    return (
        f"{len(with_pms)} sandbox PMS (HL7) and {len(ehr_sites)} sandbox EHR (FHIR) connectors, "
        f"{loaded} upcoming appointments loaded into the PMSs"
    )
