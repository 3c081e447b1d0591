"""Kept capacity: what each provider offered and filled at each location, per day."""

from __future__ import annotations

from django.db import models

from .network import Location, Provider


class CapacityDay(models.Model):
    """Slot units (free + booked; blocked excluded) and booked units starting on one UTC
    day, per location and provider. Slot rows describe the schedule ahead and change as
    templates do; these rows keep what each day offered, so slot utilization can be
    computed for any past period. Written by the slot materializer for days just past
    (``capacity_snapshot``) and backfilled by the demo seed for its history."""

    day = models.DateField()
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    slots = models.PositiveIntegerField()
    booked = models.PositiveIntegerField()

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "location", "provider"], name="capacity_day_once"
            ),
            models.CheckConstraint(
                condition=models.Q(booked__lte=models.F("slots")), name="capacity_booked_le_slots"
            ),
        ]
        indexes = [models.Index(fields=["location", "day"], name="capacity_location_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} location #{self.location_id} provider #{self.provider_id}"
