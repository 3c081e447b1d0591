"""What every door (forms, DRF serializers, FHIR, query strings) checks the same way.

Each helper here answers one question about untrusted text, so the console, the API and
FHIR refuse the same input for the same reason:

- ``parse_id``: is this an id we could have issued? Python's ``int()`` and
  ``str.isdigit()`` accept "²" and Arabic-Indic digits, and a 24-digit number overflows
  PostgreSQL's bigint; ids are ASCII digits that fit in a signed 64-bit integer.
- ``single_line_validator``: no CR, LF or other control characters in a value that ends
  up in an HL7 field, an X12 element or a CSV cell (names, addresses, codes).
- ``validate_calendar_date``: a date a scheduling or reporting question can be about.
  Python's dates end at 9999-12-31, so "9999-12-31 plus a day" raises deep inside a
  query builder; the door refuses such dates with a field error instead.
- ``load_json``: a JSON body parsed with a bound on nesting, since a few kilobytes of
  ``[[[[…`` exhaust Python's recursion limit inside ``json.loads``.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.deconstruct import deconstructible

MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_JSON_DEPTH = 32  # FHIR resources nest about 8 deep; our API bodies 3
_ID = re.compile(r"[0-9]{1,19}")

# C0 controls (CR, LF and tab included), DEL, C1 controls, and the Unicode line and
# paragraph separators, which some readers also treat as line breaks.
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ERR_CONTROL_CHARS = "Must be one line of text without control characters."


def parse_id(value: object, *, zero: bool = False) -> int | None:
    """An id as ASCII digits that fits a bigint, else None (never raises). Ids start at
    1; ``zero=True`` admits 0 for positions such as a choice's index."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _ID.fullmatch(value):
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    return value if (0 if zero else 1) <= value <= MAX_ID else None


EARLIEST_DATE = date(1900, 1, 1)
MAX_DAYS_AHEAD = 3660  # ten years: past any booking horizon, far from date.max
ERR_DATE_RANGE = f"Must be between {EARLIEST_DATE.isoformat()} and ten years from today."


def validate_calendar_date(value: date | None) -> None:
    if value is None:
        return
    if not EARLIEST_DATE <= value <= timezone.localdate() + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationError(ERR_DATE_RANGE, code="date_range")


def has_control_chars(value: str) -> bool:
    return CONTROL_CHARS.search(value) is not None


@deconstructible
class SingleLineValidator:
    """Rejects CR, LF, tab and other control characters (forms, serializers, models)."""

    message = ERR_CONTROL_CHARS
    code = "control_characters"

    def __call__(self, value: Any) -> None:
        if isinstance(value, str) and has_control_chars(value):
            raise ValidationError(self.message, code=self.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SingleLineValidator)

    def __hash__(self) -> int:
        return hash(self.code)


single_line_validator = SingleLineValidator()


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class JsonRejected(ValueError):
    """The body is not JSON we will read; the message says why, without quoting it."""


ERR_JSON_SYNTAX = "The request body is not valid JSON."
ERR_JSON_DEPTH = f"The JSON body nests more than {MAX_JSON_DEPTH} levels deep."


def _no_constants(name: str) -> Any:
    # NaN and Infinity are JavaScript, not JSON (RFC 8259 section 6).
    raise ValueError(name)


def load_json(raw: bytes | str) -> Any:
    """Parse a JSON request body; raises ``JsonRejected`` (syntax, encoding, depth)."""
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise JsonRejected(ERR_JSON_DEPTH) from None
    except (ValueError, UnicodeDecodeError):
        raise JsonRejected(ERR_JSON_SYNTAX) from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise JsonRejected(ERR_JSON_DEPTH)
    return data
