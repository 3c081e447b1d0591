"""A small location where a visit needs a dentist and a hygienist at once."""

from __future__ import annotations

from datetime import timedelta

from scheduling import services
from scheduling.models import Appointment, Capability, MobileEquipment, Room
from tests import factories as f
from tests.scheduling.services_world import DAY


class TwoResourceWorld:
    """A dentist free 09:00-12:00 (Denver) and a hygienist free only 10:00-11:00, both at
    one location with one operatory; an hour-long visit that needs both."""

    def __init__(self) -> None:
        self.location = f.location()
        self.room = Room.objects.create(location=self.location, code="op1", name="Op 1")
        self.dentists = [f.provider(locations=[self.location]) for _ in range(2)]
        self.hygienist = f.provider(
            capabilities=["hygiene"], locations=[self.location], credential="RDH"
        )
        self.slots = [
            f.slot(provider=d, location=self.location, start=DAY + timedelta(minutes=30 * i))
            for d in self.dentists
            for i in range(6)
        ]
        self.hygiene_slots = [
            f.slot(
                provider=self.hygienist,
                location=self.location,
                start=DAY + timedelta(minutes=60 + 30 * i),
            )
            for i in range(2)
        ]
        self.visit = f.appointment_type(
            duration_minutes=60,
            name="Exam with cleaning",
            assistant_capability=Capability.objects.get(code="hygiene"),
        )
        self.patient = f.patient()

    def slot_at(self, minutes: int, dentist: int = 0):
        return self.slots[dentist * 6 + minutes // 30]

    def cart(self, *locations) -> MobileEquipment:
        cart = MobileEquipment.objects.create(code=f"cart{f.n()}", name="Sedation cart")
        cart.serves.set(locations)
        return cart

    def book(self, agent, slot, visit=None, patient=None) -> Appointment:
        visit = visit or self.visit
        hold = services.hold_place(slot=slot, by=agent, appointment_type=visit)
        return services.appointment_book(
            hold=hold,
            patient=patient or self.patient,
            appointment_type=visit,
            by=agent,
            reason="recall",
        )
