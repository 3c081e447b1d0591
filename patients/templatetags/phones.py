"""Phone numbers as people read them: stored as digits, shown as (303) 555-0142."""

from __future__ import annotations

from django import template

from patients.phones import format_phone

register = template.Library()


@register.filter
def phone(value: str | None) -> str:
    """NANP numbers (10 digits, or 11 with a leading 1) formatted; anything else as is."""
    return format_phone(value)
