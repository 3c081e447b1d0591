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
        from .kpi import engagement, pages, recall, referrals  # noqa: F401  (register KPI pages)
        from .kpi import hubs as kpi_hubs  # noqa: F401  (the hubs page, after scheduling's)
        from .receivers import (
            patient_rows_merge,
            patient_rows_unmerge,
            referrals_follow_batch,
            referrals_follow_booking,
            referrals_follow_changes,
        )
        from .signals import appointment_changed, appointments_booked, appointments_changed

        # Appointments, calls and waitlist entries follow a patient merge.
        patient_merged.connect(patient_rows_merge, dispatch_uid="scheduling.patient_merged")
        patient_unmerged.connect(patient_rows_unmerge, dispatch_uid="scheduling.patient_unmerged")

        # Bookings answer referrals, whichever channel made them; the batch path hears the
        # batch signal, so the one-by-one receiver does not force it back to one at a time.
        appointment_changed.connect(referrals_follow_booking, dispatch_uid="scheduling.referrals")
        appointments_booked.connect(referrals_follow_batch, dispatch_uid="scheduling.referrals")
        appointments_changed.connect(referrals_follow_changes, dispatch_uid="scheduling.referrals")

        # Rows of the rebooking worklist close when their visit moves or ends elsewhere.
        from .changes.follow import (
            rebooking_follows_batch,
            rebooking_follows_visit,
            rebooking_ignores_bookings,
        )

        appointment_changed.connect(rebooking_follows_visit, dispatch_uid="scheduling.rebooking")
        appointments_booked.connect(rebooking_ignores_bookings, dispatch_uid="scheduling.rebooking")
        appointments_changed.connect(rebooking_follows_batch, dispatch_uid="scheduling.rebooking")

        # Runs after every app migrated, so all permissions exist.
        post_migrate.connect(roles_sync, sender=self, dispatch_uid="scheduling.roles_sync")

    def warm(self) -> None:
        """Called by the WSGI entry point as a web worker starts (see config.wsgi)."""
        from .warm import caches_warm

        caches_warm()
