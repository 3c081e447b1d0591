"""How a value is normalized before its blind index is taken.

A lookup finds a row only if the typed value normalizes to the same string as the
stored one, so each index names its normalizer, and the searching code normalizes the
same way (``blind_index_of``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from functools import lru_cache


@lru_cache(maxsize=65536)
def fold_name(value: str) -> str:
    """Fold accents, case, punctuation and spacing: "O'Brien-Núñez" -> "obriennunez"."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower())


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def last_four_digits(value: str) -> str:
    """The last four digits, or nothing when there are fewer (no partial key then)."""
    found = digits(value)
    return found[-4:] if len(found) >= 4 else ""


def iso_date(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def exact(value: str) -> str:
    return value.strip()


NORMALIZERS: dict[str, Callable[..., str]] = {
    "name": fold_name,
    "digits": digits,
    "last4": last_four_digits,
    "date": iso_date,
    "exact": exact,
}
