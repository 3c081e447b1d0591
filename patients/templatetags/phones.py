"""Phone numbers as people read them: stored as digits, shown as (303) 555-0142."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def phone(value: str | None) -> str:
    """NANP numbers (10 digits, or 11 with a leading 1) formatted; anything else as is."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return str(value or "")
