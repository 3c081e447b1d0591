from __future__ import annotations

from django.apps import AppConfig


class HubConfig(AppConfig):
    """config is an installed app only for the audit trail's tables: the audit writer
    lives here, in the lowest layer, so every app can write entries through it."""

    name = "config"
    label = "config"
    default_auto_field = "django.db.models.BigAutoField"
