from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from patients.signals import patient_merged, patient_unmerged

        from . import (
            audit,  # noqa: F401  (registers PHI models with auditlog)
            kpi,  # noqa: F401  (registers the revenue KPI page and its drill-downs)
            receivers,  # noqa: F401  (eligibility on hold, encounter on booking)
        )
        from .merge import encounters_merge, encounters_unmerge

        # Encounters follow a patient merge.
        patient_merged.connect(encounters_merge, dispatch_uid="billing.encounters_merge")
        patient_unmerged.connect(encounters_unmerge, dispatch_uid="billing.encounters_unmerge")
