from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.roles import roles_sync

        from . import audit  # noqa: F401  (registers PHI models with auditlog)
        from .kpi import pages  # noqa: F401  (registers the KPI pages and drill-downs)

        # Runs after every app migrated, so all permissions exist.
        post_migrate.connect(roles_sync, sender=self, dispatch_uid="scheduling.roles_sync")
