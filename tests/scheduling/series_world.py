"""A patient due for orthodontic adjustments every four weeks, twelve times, at one
Denver location whose provider has each wanted 09:00 and the 09:30 behind it."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

from scheduling import services
from scheduling.models import AppointmentSeries
from scheduling.recurrence import WEEKLY, series_rrule, series_starts
from tests import factories as f

DENVER = zoneinfo.ZoneInfo("America/Denver")


def first_tuesday_nine() -> datetime:
    """09:00 Denver on a Tuesday two weeks or more ahead: 12 visits four weeks apart
    then span 44 weeks, which always contains a DST change."""
    day = date.today() + timedelta(days=14)
    day += timedelta(days=(1 - day.weekday()) % 7)
    return datetime.combine(day, time(9), tzinfo=DENVER)


class Ortho:
    def __init__(self) -> None:
        self.location = f.location(time_zone="America/Denver")
        self.provider = f.provider(locations=[self.location])
        self.visit = f.appointment_type(name="Orthodontic adjustment", duration_minutes=30)
        self.patient = f.patient()
        first = first_tuesday_nine()
        self.rule = series_rrule(pattern=WEEKLY, first_local=first, interval=4, count=12)
        self.starts = series_starts(self.rule, first_start=first, time_zone="America/Denver")
        # Each wanted day has its 09:00 unit and the 09:30 one behind it.
        self.slots = {
            start: [
                f.slot(provider=self.provider, location=self.location, start=start + delta)
                for delta in (timedelta(0), timedelta(minutes=30))
            ]
            for start in self.starts
        }

    def plan(self, agent) -> services.SeriesPlan:
        return services.series_plan(
            patient=self.patient,
            appointment_type=self.visit,
            first_slot=self.slots[self.starts[0]][0],
            rrule=self.rule,
            by=agent,
        )

    def book(self, agent, plan) -> AppointmentSeries:
        return services.series_book(
            plan=plan,
            patient=self.patient,
            appointment_type=self.visit,
            by=agent,
            reason="follow_up",
        )
