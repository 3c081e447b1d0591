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


# The demo group's reminder steps: email a week ahead, texts two days and two hours ahead.
DEMO_CADENCES = (("email", 168), ("sms", 48), ("sms", 2))
# Routine visits patients may book themselves on /book/.
DEMO_SELF_SERVICE = ("periodic-cleaning", "emergency-exam")


def engagement_ensure() -> str:
    from .models import AppointmentType, ReminderCadence

    for channel, hours in DEMO_CADENCES:
        ReminderCadence.objects.get_or_create(
            appointment_type=None, location=None, channel=channel, hours_before=hours
        )
    types = AppointmentType.objects.filter(code__in=DEMO_SELF_SERVICE).update(self_service=True)
    return f"{len(DEMO_CADENCES)} reminder steps, {types} visit types bookable online"


def seed(context: Any) -> str:
    return f"{rule_settings_ensure()} rule settings; {engagement_ensure()}"
