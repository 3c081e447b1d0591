"""Phone numbers: stored as digits, shown as people read them.

One normalizer for everything that compares or stores a number (search, registration,
the duplicate check, inbound ADT) and one formatter for display, so a number typed as
"+1 (303) 555-0101", sent as "303.555.0101" or written in Arabic-Indic or full-width
digits is the same value everywhere. libphonenumber's metadata (the ``phonenumbers``
package) decides what a number is: which country, which digits belong to it, and
whether it can exist at all (``validate_phone``, used where numbers are registered).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import phonenumbers
from django.core.exceptions import ValidationError

DEFAULT_REGION = "US"  # numbers without a country code are dialled from the US
ERR_PHONE = (
    "Not a valid phone number: give a 10-digit US number, or + and the country code "
    "for another country."
)


def _parse(value: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None


def _stored(number: phonenumbers.PhoneNumber) -> str:
    """US numbers as their 10 national digits; others as E.164 digits without the +."""
    if number.country_code == 1:
        return phonenumbers.national_significant_number(number)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def _digits(value: str) -> str:
    # Every decimal digit of any script (Arabic-Indic, full-width...) as ASCII; not
    # superscripts or other "digit-like" characters, which have no decimal value.
    return "".join(
        str(unicodedata.decimal(ch)) for ch in value if unicodedata.decimal(ch, None) is not None
    )


# A stored US number: ten ASCII digits, not starting with the national prefix 1 or 0.
# libphonenumber returns such a value unchanged whether or not it is valid (valid: its
# national significant number; invalid: its digits), so it is returned without parsing:
# matching compares every candidate's stored phone, and a parse costs ~0.3 ms.
_STORED_US = re.compile(r"[2-9][0-9]{9}")


_memo: ContextVar[dict[str, str] | None] = ContextVar("phone_memo", default=None)


@contextmanager
def phones_memoized() -> Iterator[None]:
    """Inside the block each distinct number is parsed once: a batch of records asks
    for the same sender-formatted number several times per record (mapping, matching,
    storing), and each parse costs ~0.3 ms. The memo holds plaintext numbers, so it
    lives for the block only and is dropped when it ends."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def normalize_phone(value: str) -> str:
    """The stored form: "+1 (303) 555-0101" -> "3035550101". A fragment that is no
    valid number (a search for "555-0101") keeps its digits, so partial lookups work."""
    if _STORED_US.fullmatch(value):
        return value
    memo = _memo.get()
    if memo is None:
        return _normalized(value)
    found = memo.get(value)
    if found is None:
        found = memo[value] = _normalized(value)
    return found


def _normalized(value: str) -> str:
    number = _parse(value) if value else None
    if number is not None and phonenumbers.is_valid_number(number):
        return _stored(number)
    digits = _digits(value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


def validate_phone(value: str) -> str:
    """The stored form of a number that can exist; ValidationError(ERR_PHONE) otherwise."""
    number = _parse(value)
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(ERR_PHONE, code="phone")
    return _stored(number)


def format_phone(value: str | None) -> str:
    """NANP numbers (10 digits, or 11 with a leading 1) formatted; anything else as is."""
    digits = normalize_phone(str(value or ""))
    if len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return str(value or "")
