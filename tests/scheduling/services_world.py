"""The small network the scheduling service tests book in, and their helpers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User

from scheduling import services
from scheduling.models import Appointment, Slot
from tests import factories as f

# 16:00 UTC is 09:00 in Denver (MST) on a weekday a few days out.
DAY = (datetime.now(tz=UTC) + timedelta(days=5)).replace(hour=16, minute=0, second=0, microsecond=0)


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def starts(message: str) -> str:
    return f"^{re.escape(message)}"


class World:
    def __init__(self) -> None:
        self.location = f.location(equipment=["pano", "cbct"])
        self.other_location = f.location(region=self.location.region, equipment=["pano"])
        self.provider = f.provider(capabilities=["general", "implants"], locations=[self.location])
        self.slots = [
            f.slot(
                provider=self.provider,
                location=self.location,
                start=DAY + timedelta(minutes=30 * i),
            )
            for i in range(6)
        ]
        self.checkup = f.appointment_type(capabilities=["general"], duration_minutes=30)
        self.consult = f.appointment_type(
            capabilities=["implants"],
            equipment=["cbct"],
            duration_minutes=60,
            name="Implant consult",
        )
        self.patient = f.patient()


def book(world: World, agent: User, *, slot: Slot | None = None, type_=None, **kw) -> Appointment:
    hold = services.hold_place(slot=slot or world.slots[0], by=agent)
    return services.appointment_book(
        hold=hold,
        patient=kw.pop("patient", world.patient),
        appointment_type=type_ or world.checkup,
        by=agent,
        reason="new_problem",
        **kw,
    )
