from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError

ERR_BAD_TIME_ZONE = "Unknown time zone {value!r}: use an IANA name such as America/Denver."
ERR_BAD_NPI = "NPI {value!r} is invalid: it must be 10 digits with a valid check digit."


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(ERR_BAD_TIME_ZONE.format(value=value), code="time_zone")


def npi_is_valid(npi: str) -> bool:
    """Luhn over the prefix 80840 + the NPI (CMS NPI check-digit rule)."""
    if len(npi) != 10 or not (npi.isascii() and npi.isdigit()):
        return False
    digits = [int(c) for c in "80840" + npi]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi_with_check_digit(first_nine: str) -> str:
    for check in range(10):
        candidate = f"{first_nine}{check}"
        if npi_is_valid(candidate):
            return candidate
    raise ValueError("no check digit")  # pragma: no cover - Luhn always has one


def validate_npi(value: str) -> None:
    if not npi_is_valid(value):
        raise ValidationError(ERR_BAD_NPI.format(value=value), code="npi")
