"""Times are stored in UTC and always shown in the location's own zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

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


@register.simple_tag
def caller_time(moment: datetime | None, location_zone: str, caller_zone: str | None) -> str:
    """The start in the caller's zone, when it reads differently from the location's:
    ``{% caller_time o.start o.time_zone patient_zone %}`` → ``9:00 AM CST`` or ``""``."""
    if moment is None or not caller_zone or caller_zone == location_zone:
        return ""
    there = moment.astimezone(ZoneInfo(location_zone)).strftime("%I:%M %p %Z")
    here = moment.astimezone(ZoneInfo(caller_zone)).strftime("%I:%M %p %Z")
    return "" if here == there else here.lstrip("0")
