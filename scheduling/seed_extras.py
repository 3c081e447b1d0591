"""Demo data for scheduling beyond the network: one RuleSetting row per rule, so admins
see every rule with its defaults and can switch it off or reweigh it."""

from __future__ import annotations

from typing import Any

from .models import RuleSetting
from .rules.registry import RULES


def rule_settings_ensure() -> int:
    """Create missing RuleSetting rows with the registry's defaults; never overwrite."""
    created = 0
    for rule in RULES:
        _, was_created = RuleSetting.objects.get_or_create(
            key=rule.key,
            defaults={
                "enabled": True,
                "weight": rule.default_weight,
                "params": dict(rule.default_params),
                "description": f"{rule.kind.value}: {rule.description}"[:200],
            },
        )
        created += was_created
    return created


def seed(context: Any) -> str:
    from .demo.hubs import build_hubs

    hubs = build_hubs(list(context.net.regions))
    return f"{rule_settings_ensure()} rule settings, {hubs} hubs"
