"""An agent's own console settings."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from ..models import AgentProfile


def agent_shortcuts_set(*, user: User, enabled: bool, keys: dict[str, str]) -> AgentProfile:
    """Store the agent's keyboard shortcuts (on or off, and the key for each action).

    The caller validates ``keys`` (one character each, no key twice); an agent without a
    profile gets one, with no home region."""
    with transaction.atomic():
        profile, _ = AgentProfile.objects.select_for_update().get_or_create(user=user)
        profile.console_shortcuts = {"enabled": enabled, "keys": dict(keys)}
        profile.save(update_fields=["console_shortcuts"])
    return profile
