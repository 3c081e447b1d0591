"""A small network for schedule changes: two dentists at one Denver location working
weekday mornings, slots materialized a couple of weeks ahead, and helpers to book."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from scheduling import services
from scheduling.models import Appointment, Slot
from tests import factories as f

DENVER = zoneinfo.ZoneInfo("America/Denver")


def next_weekday(after_days: int = 3) -> date:
    day = timezone.now().astimezone(DENVER).date() + timedelta(days=after_days)
    while day.weekday() > 3:  # Monday to Thursday: the next day is a workday too
        day += timedelta(days=1)
    return day


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=DENVER)


class Network:
    def __init__(self) -> None:
        self.location = f.location(time_zone="America/Denver", phone="3035550111")
        self.provider = f.provider(locations=[self.location], last_name="Sick")
        self.colleague = f.provider(locations=[self.location], last_name="Well")
        self.templates = {
            prov.pk: [
                f.template(provider=prov, location=self.location, weekday=wd) for wd in range(5)
            ]
            for prov in (self.provider, self.colleague)
        }
        self.checkup = f.appointment_type(name="Checkup", duration_minutes=30)
        self.day = next_weekday()
        services.slots_materialize(days=21)

    def slot(self, hour: int, minute: int = 0, provider=None) -> Slot:
        return Slot.objects.get(
            provider=provider or self.provider, start=at(self.day, hour, minute)
        )

    def book(self, agent: User, slot: Slot, **patient) -> Appointment:
        hold = services.hold_place(slot=slot, by=agent)
        return services.appointment_book(
            hold=hold,
            patient=f.patient(consent_sms=True, phone=f"30355501{f.n() % 100:02d}", **patient),
            appointment_type=self.checkup,
            by=agent,
            reason="new_problem",
        )

    def free_inside(self, start: datetime, end: datetime, provider=None) -> int:
        return Slot.objects.filter(
            provider=provider or self.provider,
            status=Slot.Status.FREE,
            start__lt=end,
            end__gt=start,
        ).count()
