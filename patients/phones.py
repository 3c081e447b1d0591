"""Phone numbers: stored as digits, shown as people read them.

One normalizer for everything that compares or stores a number (search, registration,
the duplicate check, inbound ADT) and one formatter for display, so a number typed as
"+1 (303) 555-0101" and one sent as "303.555.0101" are the same value everywhere.
"""

from __future__ import annotations

import re


def normalize_phone(value: str) -> str:
    """Digits only, without a US country code: "+1 (303) 555-0101" -> "3035550101"."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


def format_phone(value: str | None) -> str:
    """NANP numbers (10 digits, or 11 with a leading 1) formatted; anything else as is."""
    digits = normalize_phone(str(value or ""))
    if len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return str(value or "")
