"""Quiet hours: no texts at night in the patient's own time zone (pure)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime


def in_quiet_hours(moment: datetime, time_zone: str, *, start_hour: int, end_hour: int) -> bool:
    """True when ``moment`` (aware) falls in [start_hour, end_hour) local time; the span
    may wrap midnight (21 to 8)."""
    hour = moment.astimezone(zoneinfo.ZoneInfo(time_zone)).hour
    if start_hour == end_hour:
        return False
    if start_hour < end_hour:
        return start_hour <= hour < end_hour
    return hour >= start_hour or hour < end_hour
