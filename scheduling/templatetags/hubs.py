"""Wallboard formatting: seconds as m:ss, shares as percentages, dict lookups."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes}:{secs:02d}"


@register.filter
def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


@register.filter
def get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key, 0)
