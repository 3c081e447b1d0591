"""Recurring series: one patient's repeated visits of one type, each booked as its own
appointment."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AppointmentSeries(models.Model):
    """What an agent asked for when booking a run of visits ("every 4 weeks, 12 times").

    The recurrence is an RFC 5545 RRULE (without DTSTART) expanded from ``first_start`` in
    the location's zone (``scheduling.recurrence``), so a 09:00 visit stays 09:00 local
    across a DST change. Each occurrence is an ordinary Appointment pointing back here,
    booked, moved and cancelled by the ordinary services.
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointment_series"
    )
    appointment_type = models.ForeignKey(
        "scheduling.AppointmentType", on_delete=models.PROTECT, related_name="+"
    )
    # The preference the occurrences were placed with; an accepted alternative may be
    # with another provider of the same location.
    location = models.ForeignKey("scheduling.Location", on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey(
        "scheduling.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rrule = models.CharField(max_length=200)
    first_start = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "appointment series"

    def __str__(self) -> str:
        return f"Series #{self.pk}"
