"""Per-user and per-rule settings that admins edit, and role permissions with no model."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from config.crypto.fields import EncryptedTextField

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


class AccessWiden(models.Model):
    """A break-glass: an agent opened a patient outside their home region, with a reason,
    for one call. It lasts while that call is open; compliance reviews the list."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_widens"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="access_widens"
    )
    call = models.ForeignKey("scheduling.Call", on_delete=models.PROTECT, related_name="widens")
    region = models.ForeignKey(
        Region,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The agent's home region when they widened",
    )
    # Free text typed during a call, so it may name the patient's situation: encrypted.
    reason = EncryptedTextField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "patient"], name="widen_user_patient")]

    def __str__(self) -> str:
        return f"{self.user} widened to patient #{self.patient_id} on call #{self.call_id}"


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
            ("overbook", "Can double-book a booked slot with a reason, under a daily limit"),
            ("view_kpi", "Can view KPI pages"),
            ("access_all_regions", "Can open patients in every region without widening"),
        ]

    def __str__(self) -> str:
        return "console permissions"
