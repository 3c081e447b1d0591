from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class HubConfig(AppConfig):
    """config is an installed app only for the audit trail's tables: the audit writer
    lives here, in the lowest layer, so every app can write entries through it."""

    name = "config"
    label = "config"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config import audit_creates

        audit_creates.install()


class HubAdminConfig(AdminConfig):
    """Django's admin with the site that audits PHI shown in admin pages."""

    default_site = "config.admin_site.HubAdminSite"
