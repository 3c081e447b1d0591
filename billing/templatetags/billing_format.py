"""Display filters for the billing pages: money in dollars and cents with thousands
separators, ICD-10-CM codes with their dot. Storage keeps codes without the dot (as
X12 sends them) and amounts as Decimals whose SQL sums can carry long tails."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()

CENT = Decimal("0.01")


@register.filter
def money(value: Any) -> str:
    """``Decimal("1036.80000000000")`` → ``$1,036.80``; negatives as ``-$12.50``;
    None or blank → an em dash."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


@register.filter
def icd10(code: Any) -> str:
    """ICD-10-CM for people: the dot after the category (K0810 → K08.10)."""
    text = str(code or "").strip().upper()
    if len(text) > 3 and "." not in text:
        return f"{text[:3]}.{text[3:]}"
    return text
