"""Parsing of FHIR R4 search parameter values (search.html), apart from the views.

A value that is valid FHIR but names nothing the hub has (an id that is not ours, a
status the hub never gives a slot) matches nothing: the answer is an empty searchset,
not an error (search.html#errors reserves errors for values the server cannot parse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q

from config.inputs import parse_id

# datatypes.html#id
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# search.html#date: a date parameter is a date or dateTime of any precision: YYYY,
# YYYY-MM, YYYY-MM-DD, or a time to the minute or second, with an optional zone.
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$",
    re.ASCII,  # \d: ASCII digits only, not Arabic-Indic or full-width
)
# search.html#prefix; "ap" (approximately) is served as "eq" over the value's precision.
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
ERR_DATE = "{name}: not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)"
ERR_REFERENCE = "{name}: not a FHIR reference ([type]/[id], [id] or an absolute URL)"


class SearchValueError(ValueError):
    """A value that is not valid FHIR for its parameter type (answered 400)."""


@dataclass(frozen=True)
class Reference:
    """A reference parameter's target. ``pk`` is None when the id is a valid FHIR id
    that is not one of the hub's (numeric) ids: it matches nothing."""

    id: str
    pk: int | None


def split_or(values: list[str]) -> list[str]:
    """search.html#combining: a comma inside one value is OR ("status=free,busy")."""
    return [part for value in values for part in value.split(",") if part]


def token(value: str) -> tuple[str | None, str]:
    """search.html#token: [system]|[code], |[code] or [code] (system None: any)."""
    system, sep, code = value.partition("|")
    return (system, code) if sep else (None, value)


def reference(value: str, resource_type: str, name: str) -> Reference:
    """search.html#reference: [type]/[id], [id], or an absolute URL ending in them."""
    tail = value.rstrip("/")
    if "://" in tail:
        tail = tail.split("://", 1)[1]
    parts = tail.split("/")
    if len(parts) == 1:
        ident = parts[0]
    elif re.fullmatch(r"[A-Z][A-Za-z]+", parts[-2]) and ("://" in value or len(parts) == 2):
        ident = parts[-1]
    else:
        raise SearchValueError(ERR_REFERENCE.format(name=name))
    if not _FHIR_ID.match(ident):
        raise SearchValueError(ERR_REFERENCE.format(name=name))
    if len(parts) > 1 and parts[-2] != resource_type:
        # Another type's reference ("Group/1" for patient): valid, names nothing here.
        return Reference(id=ident, pk=None)
    return Reference(id=ident, pk=parse_id(ident))


def resource_id(value: str, name: str) -> int | None:
    """An ``_id`` or read id: None for a valid FHIR id that is not one of ours."""
    if not _FHIR_ID.match(value):
        raise SearchValueError(f"{name}: not a FHIR id")
    return parse_id(value)


def date_bounds(value: str, name: str) -> tuple[str, datetime, datetime]:
    """(prefix, lower, upper): the value's prefix and the half-open interval its
    precision covers (search.html#date: "2013-12" is the whole of December 2013).
    A value without a zone is read in UTC."""
    prefix, rest = (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)
    match = _DATE.match(rest)
    if not match:
        raise SearchValueError(ERR_DATE.format(name=name))
    g = match.groupdict()
    try:
        if g["H"] is None:
            year, month, day = int(g["y"]), int(g["m"] or 1), int(g["d"] or 1)
            lower = datetime(year, month, day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(rest.replace("Z", "+00:00"))
            # In UTC: an offset such as -23:59 is valid ISO 8601 but beyond what
            # PostgreSQL accepts, so the database only ever sees UTC.
            lower = _utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except ValueError:
        raise SearchValueError(ERR_DATE.format(name=name)) from None
    try:
        if g["H"] is None:
            if g["d"]:
                upper = lower + timedelta(days=1)
            elif g["m"]:
                upper = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            else:
                upper = datetime(year + 1, 1, 1, tzinfo=UTC)
        else:
            step = timedelta(seconds=1) if g["S"] is not None else timedelta(minutes=1)
            upper = lower + (step if not g["f"] else timedelta(microseconds=1))
    except (OverflowError, ValueError):
        # The last day, month or year of the calendar (9999-12-31): the interval runs
        # to the end of what Python can represent.
        upper = _END
    return ("eq" if prefix == "ap" else prefix), lower, upper


_END = datetime.max.replace(tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; at the calendar's edges (0001-01-01T00:00+01:00) clamped."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return _END if moment.year > 1 else datetime.min.replace(tzinfo=UTC)


def date_filter(field: str, values: list[str], name: str, *, as_date: bool = False) -> Q:
    """A Q for a point-valued date field (Slot.start, Appointment.start, birthDate):
    every value must hold (search.html#combining: repeated parameters are AND)."""
    q = Q()
    for value in values:
        prefix, low, high = date_bounds(value, name)
        lower: datetime | date = low.date() if as_date else low
        upper: datetime | date = high.date() if as_date else high
        q &= {
            "eq": Q(**{f"{field}__gte": lower, f"{field}__lt": upper}),
            "ne": ~Q(**{f"{field}__gte": lower, f"{field}__lt": upper}),
            "gt": Q(**{f"{field}__gte": upper}),
            "sa": Q(**{f"{field}__gte": upper}),
            "ge": Q(**{f"{field}__gte": lower}),
            "lt": Q(**{f"{field}__lt": lower}),
            "eb": Q(**{f"{field}__lt": lower}),
            "le": Q(**{f"{field}__lt": upper}),
        }[prefix]
    return q
