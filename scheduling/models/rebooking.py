"""The rebooking worklist: booked visits a schedule change hit, kept until someone acts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .booking import Appointment
from .network import LocationClosure, ScheduleTemplate, TimeOff


class RebookingItem(models.Model):
    """One booked appointment inside new time off, a closure or hours a template no longer
    has. The appointment stays booked (nothing is cancelled silently) until ops rebooks it,
    cancels it, or tells the patient to call."""

    class Cause(models.TextChoices):
        TIME_OFF = "time_off", "Provider time off"
        CLOSURE = "closure", "Location closure"
        TEMPLATE = "template", "Template change"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        REBOOKED = "rebooked", "Rebooked"
        CANCELLED = "cancelled", "Cancelled"
        NOTIFIED = "notified", "Asked to call"

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="rebooking"
    )
    cause = models.CharField(max_length=10, choices=Cause.choices)
    # What changed, in words ops wrote ("Sick day", "Snow"); never patient data.
    cause_note = models.CharField(max_length=120, blank=True)
    time_off = models.ForeignKey(
        TimeOff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closure = models.ForeignKey(
        LocationClosure, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    template = models.ForeignKey(
        ScheduleTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # Slot ids the rules engine offered when the change was made, best first; each is
    # checked again (still free, still allowed) when someone books it.
    suggestions = models.JSONField(default=list, blank=True)
    new_appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            # The page lists what is still to do, and what was done today.
            models.Index(fields=["status", "created_at"], name="rebooking_status_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="rebooked") | Q(new_appointment__isnull=False),
                name="rebooking_rebooked_has_new",
            )
        ]
        permissions = [
            (
                "manage_schedule",
                "Can enter time off, closures and template changes and rebook the visits hit",
            )
        ]

    def __str__(self) -> str:
        return f"Rebooking #{self.pk} ({self.get_status_display()})"
