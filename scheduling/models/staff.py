"""Per-user and per-rule settings that admins edit, and role permissions with no model."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .network import Region


class AgentProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    home_region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL)
    # The agent's console keyboard shortcuts: {"enabled": bool, "keys": {action: key}};
    # empty means the defaults (scheduling.console.shortcuts). Single-letter shortcuts
    # must be possible to turn off or remap (WCAG 2.1.4 Character Key Shortcuts).
    console_shortcuts = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.home_region or 'network'})"


class RuleSetting(models.Model):
    """Admin-editable parameters of one rule in the scheduling rules engine."""

    key = models.SlugField(max_length=60, unique=True)
    enabled = models.BooleanField(default=True)
    weight = models.FloatField(default=1.0)
    params = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def clean(self) -> None:
        # Params are checked against what the rule declares, so an
        # admin typo ("thirty") is refused here instead of failing every slot search.
        from scheduling.rules.base import params_errors
        from scheduling.rules.registry import RULES_BY_KEY

        super().clean()
        rule = RULES_BY_KEY.get(self.key)
        if rule is None:
            known = ", ".join(sorted(RULES_BY_KEY))
            raise ValidationError({"key": f"No rule has the key {self.key!r}. Rules: {known}."})
        errors = params_errors(rule.param_specs, self.params)
        if errors:
            raise ValidationError({"params": [f"{rule.key}: {e}" for e in errors]})


class ConsolePermissions(models.Model):
    """Holder for role permissions that belong to no single model."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("use_console", "Can use the agent console"),
            ("override_network", "Can book out of network with a reason"),
            ("view_kpi", "Can view KPI pages"),
        ]

    def __str__(self) -> str:
        return "console permissions"
