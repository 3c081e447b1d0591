from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.roles import roles_sync
        from patients.signals import patient_merged, patient_unmerged

        from . import audit  # noqa: F401  (registers PHI models with auditlog)
        from .kpi import engagement, pages  # noqa: F401  (registers the KPI pages and drill-downs)
        from .receivers import patient_rows_merge, patient_rows_unmerge

        # Appointments, calls and waitlist entries follow a patient merge.
        patient_merged.connect(patient_rows_merge, dispatch_uid="scheduling.patient_merged")
        patient_unmerged.connect(patient_rows_unmerge, dispatch_uid="scheduling.patient_unmerged")

        # Runs after every app migrated, so all permissions exist.
        post_migrate.connect(roles_sync, sender=self, dispatch_uid="scheduling.roles_sync")
