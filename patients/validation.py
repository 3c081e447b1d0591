"""What a registration must satisfy beyond the model's field types: the checks every
door (console form, API serializer, the registration service itself) runs alike.

- Names, address and other one-line fields carry no CR, LF or control characters: they
  travel into HL7 v2 PID segments, X12 NM1/N3 elements and CSV cells, where a line
  break would end the segment and let the rest of the value pose as a new one.
- A date of birth is not in the future and not impossibly old.
- A ZIP code is a US ZIP (12345) or ZIP+4 (12345-6789).
- A phone number can exist (``patients.phones.validate_phone``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from config.inputs import single_line_validator

from .phones import validate_phone

OLDEST_AGE_YEARS = 125
EARLIEST_BIRTH = date(1900, 1, 1)
ERR_DOB_FUTURE = "The date of birth cannot be in the future."
ERR_DOB_TOO_OLD = (
    f"The date of birth is implausibly old (before {EARLIEST_BIRTH.year} or more than "
    f"{OLDEST_AGE_YEARS} years ago)."
)
ERR_ZIP = "A ZIP code is 5 digits, or ZIP+4 as 12345-6789."
_ZIP = re.compile(r"[0-9]{5}(-[0-9]{4})?")

SINGLE_LINE_FIELDS = (
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "address_line",
    "city",
    "state",
    "zip_code",
    "preferred_language",
)


def validate_date_of_birth(value: date | None, *, today: date | None = None) -> None:
    if value is None:
        return
    today = today or timezone.localdate()
    if value > today:
        raise ValidationError(ERR_DOB_FUTURE, code="dob_future")
    try:
        oldest = today.replace(year=today.year - OLDEST_AGE_YEARS)
    except ValueError:  # 29 February
        oldest = today.replace(year=today.year - OLDEST_AGE_YEARS, day=28)
    if value < max(oldest, EARLIEST_BIRTH):
        raise ValidationError(ERR_DOB_TOO_OLD, code="dob_too_old")


def validate_zip_code(value: str) -> None:
    if value and not _ZIP.fullmatch(value):
        raise ValidationError(ERR_ZIP, code="zip")


def registration_errors(fields: Mapping[str, Any]) -> dict[str, list[str]]:
    """Field name -> messages for every rule above that ``fields`` breaks."""
    errors: dict[str, list[str]] = {}

    def check(name: str, validator: Any) -> None:
        value = fields.get(name)
        if value in (None, ""):
            return
        try:
            validator(value)
        except ValidationError as exc:
            errors.setdefault(name, []).extend(exc.messages)

    for name in SINGLE_LINE_FIELDS:
        check(name, single_line_validator)
    check("date_of_birth", validate_date_of_birth)
    check("zip_code", validate_zip_code)
    if "phone" not in errors:
        check("phone", validate_phone)
    return errors
