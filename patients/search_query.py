"""What an agent typed into the patient search, split into what it can be matched on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from .matching import normalize_name
from .phones import normalize_phone

# Fewer digits than this match too many numbers to be worth listing.
MIN_PHONE_SUFFIX = 4
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%m.%d.%Y", "%d.%m.%Y")


@dataclass(frozen=True)
class ParsedQuery:
    names: tuple[str, ...]
    date_of_birth: date | None
    phone: str
    tokens: tuple[str, ...]  # identifier-shaped tokens (MRN, member id), as typed
    # The last digits of a phone number (4 to 9 of them), as callers often give them.
    phone_suffix: str = ""


def parse_query(query: str) -> ParsedQuery:
    """Split what an agent typed into names, a date of birth, a phone and id tokens."""
    names: list[str] = []
    tokens: list[str] = []
    dob: date | None = None
    phone = ""
    phone_suffix = ""
    text = query.strip()
    digits = normalize_phone(text)
    # A phone typed with spaces or dashes ("303 555-0101") is one value, not three tokens.
    if re.fullmatch(r"[\d\s().+-]{7,}", text) and 10 <= len(digits) <= 11:
        return ParsedQuery(names=(), date_of_birth=None, phone=digits, tokens=(digits,))
    for raw in re.split(r"[\s,;]+", text):
        if not raw:
            continue
        parsed = _parse_date(raw)
        if parsed is not None:
            dob = parsed
        elif re.search(r"\d", raw):
            digits = normalize_phone(raw)
            if re.fullmatch(r"[\d().+-]+", raw) and len(digits) == 10:
                phone = digits
            elif re.fullmatch(r"[\d().+-]+", raw) and MIN_PHONE_SUFFIX <= len(digits) < 10:
                phone_suffix = digits
            tokens.append(raw)
        elif normalize_name(raw):
            names.append(raw)
    return ParsedQuery(
        names=tuple(names),
        date_of_birth=dob,
        phone=phone,
        tokens=tuple(tokens),
        phone_suffix=phone_suffix,
    )


def _parse_date(raw: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(raw, fmt).date()  # noqa: DTZ007 - a date, no time
        except ValueError:
            continue
        if date(1890, 1, 1) <= parsed <= timezone.now().date():
            return parsed
    return None
