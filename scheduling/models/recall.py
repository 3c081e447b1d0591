"""Recall: patients due again for a periodic visit (a six-monthly exam) are contacted with
a booking link, at a pace each location can absorb."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .engagement import PatientMessage
from .network import AppointmentType, Location


class RecallRule(models.Model):
    """Patients whose last visit of ``appointment_type`` started ``interval_months`` ago
    or more, with none booked since, are due; at most ``daily_per_location`` of them are
    contacted per location per day."""

    appointment_type = models.OneToOneField(
        AppointmentType, on_delete=models.CASCADE, related_name="recall_rule"
    )
    interval_months = models.PositiveSmallIntegerField(default=6)
    daily_per_location = models.PositiveSmallIntegerField(default=25)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(interval_months__gt=0), name="recall_interval")
        ]

    def __str__(self) -> str:
        return f"Recall for {self.appointment_type} every {self.interval_months} months"


class RecallOutreach(models.Model):
    """One contact of one patient for one due visit. ``last_visit`` is the visit that
    made them due: one outreach per due visit, however many runs select it."""

    rule = models.ForeignKey(RecallRule, on_delete=models.CASCADE, related_name="outreach")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="recall_outreach"
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        PatientMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_visit = models.DateField()
    contacted_at = models.DateTimeField()

    class Meta:
        ordering = ["-contacted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "patient", "last_visit"], name="recall_outreach_once"
            )
        ]
        indexes = [models.Index(fields=["contacted_at"], name="recall_contacted_idx")]

    def __str__(self) -> str:
        return f"Recall outreach #{self.pk}"
