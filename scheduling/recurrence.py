"""Recurrence of a series: an RFC 5545 RRULE built from what the agent chose and expanded
with python-dateutil in the location's zone.

The expansion starts from the first visit in local time (a zoneinfo-aware datetime), so
dateutil steps the wall clock, not the UTC instant: a 09:00 visit stays 09:00 local on
both sides of a DST change, and each occurrence's UTC offset is the one in force that day.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import rrulestr

WEEKLY = "weekly"
MONTHLY_WEEKDAY = "monthly_weekday"
PATTERNS = ((WEEKLY, "Every N weeks"), (MONTHLY_WEEKDAY, "Monthly on the same weekday"))
MAX_OCCURRENCES = 52
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

ERR_PATTERN = "Choose a repeat pattern from the list."
ERR_INTERVAL = "Repeat every 1 to 12 weeks or months."
ERR_END = "Give either a number of visits (2 to 52) or an end date after the first visit."


class RecurrenceError(ValueError):
    """The pattern asked for cannot be built; the message is shown as it is."""


def series_rrule(
    *,
    pattern: str,
    first_local: datetime,
    interval: int = 1,
    count: int | None = None,
    until: date | None = None,
) -> str:
    """The RRULE (no DTSTART: the series keeps its first start) for ``pattern``.

    ``monthly_weekday`` repeats on the first visit's weekday and its place in the month
    ("2nd Tuesday"); a visit in the month's last seven days repeats on the last such
    weekday, since a fifth one is missing from most months. ``until`` is the last local
    day a visit may fall on; RFC 5545 3.3.10 wants UNTIL in UTC when DTSTART has a zone.
    """
    if pattern not in {WEEKLY, MONTHLY_WEEKDAY}:
        raise RecurrenceError(ERR_PATTERN)
    if not 1 <= interval <= 12:
        raise RecurrenceError(ERR_INTERVAL)
    if (count is None) == (until is None):
        raise RecurrenceError(ERR_END)
    if count is not None and not 2 <= count <= MAX_OCCURRENCES:
        raise RecurrenceError(ERR_END)
    if until is not None and until <= first_local.date():
        raise RecurrenceError(ERR_END)
    weekday = RRULE_DAYS[first_local.weekday()]
    if pattern == WEEKLY:
        parts = ["FREQ=WEEKLY", f"INTERVAL={interval}", f"BYDAY={weekday}"]
    else:
        nth = (first_local.day - 1) // 7 + 1
        last_week = (first_local + timedelta(days=7)).month != first_local.month
        place = -1 if last_week else nth
        parts = ["FREQ=MONTHLY", f"INTERVAL={interval}", f"BYDAY={place}{weekday}"]
    if count is not None:
        parts.append(f"COUNT={count}")
    else:
        assert until is not None
        end_of_day = datetime.combine(until, time(23, 59, 59), tzinfo=first_local.tzinfo)
        parts.append(f"UNTIL={end_of_day.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    return ";".join(parts)


def series_starts(rule: str, *, first_start: datetime, time_zone: str) -> list[datetime]:
    """Every occurrence's start as a UTC instant, first included, at most MAX_OCCURRENCES.

    A local time that does not exist on a spring-forward day (02:30) is read with the
    offset before the change, as zoneinfo does, and lands an hour later on the clock.
    """
    tz = zoneinfo.ZoneInfo(time_zone)
    local_first = first_start.astimezone(tz)
    starts = []
    for moment in rrulestr(rule, dtstart=local_first):
        starts.append(moment.astimezone(UTC))
        if len(starts) == MAX_OCCURRENCES:
            break
    return starts
