"""Times are stored in UTC and always shown in the location's own zone."""

from __future__ import annotations

from datetime import datetime

from django import template

from scheduling.models import Location

register = template.Library()


@register.filter
def at_location(moment: datetime | None, location: Location | None) -> str:
    """``{{ appt.start|at_location:appt.location }}`` → ``Tue Mar 10, 8:00 AM MDT``."""
    if moment is None:
        return ""
    if location is None:
        return moment.strftime("%a %b %d, %I:%M %p UTC").replace(" 0", " ")
    local = location.local(moment)
    return local.strftime("%a %b %d, %I:%M %p %Z").replace(" 0", " ")
