"""The iCalendar invitation an email reminder carries (RFC 5545)."""

from __future__ import annotations

from typing import Any

from icalendar import Calendar, Event


def appointment_ics(appointment: Any, *, organizer: str = "") -> str:
    """One VEVENT with a stable UID, so a second reminder updates the same calendar entry
    instead of adding another."""
    calendar = Calendar()
    calendar.add("prodid", "-//Care Hub//Appointment reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"appointment-{appointment.pk}@carehub")
    event.add("dtstamp", appointment.updated_at)
    event.add("dtstart", appointment.start)
    event.add("dtend", appointment.end)
    event.add("summary", appointment.appointment_type.name)
    event.add("location", appointment.location.name)
    if organizer:
        event.add("organizer", f"mailto:{organizer}")
    calendar.add_component(event)
    return calendar.to_ical().decode()
