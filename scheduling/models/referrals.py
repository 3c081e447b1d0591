"""Referrals: a request from another clinician that this patient be seen for a visit type.

They arrive as FHIR ServiceRequest from a location EHR or are typed in by an agent from a
referral letter, wait on the agents' worklist, and link to the appointment that answers
them, so the time from referral to appointment can be measured.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.crypto.fields import EncryptedTextField

from .booking import Appointment
from .network import AppointmentType


class Referral(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Waiting to be booked"
        BOOKED = "booked", "Booked"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        # FHIR request-priority, most urgent last; the worklist shows the most urgent first.
        ROUTINE = "routine", "Routine"
        URGENT = "urgent", "Urgent"
        ASAP = "asap", "As soon as possible"
        STAT = "stat", "Immediately"

    class Source(models.TextChoices):
        FHIR = "fhir", "FHIR ServiceRequest"
        FORM = "form", "Entered by an agent"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="referrals"
    )
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="referrals"
    )
    referring_provider = models.CharField(max_length=120, blank=True)
    referring_npi = models.CharField(max_length=10, blank=True)
    reason = EncryptedTextField(blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.ROUTINE)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    source = models.CharField(max_length=4, choices=Source.choices)
    # Keyed HMAC of "connector|ServiceRequest id" for referrals from an EHR: one row each.
    source_key = models.CharField(max_length=32, blank=True, default="", editable=False)
    origin_connector_id = models.PositiveIntegerField(null=True, blank=True)
    received_at = models.DateTimeField()
    appointment = models.OneToOneField(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="referral"
    )
    booked_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_key"], condition=~Q(source_key=""), name="referral_source_unique"
            ),
            models.CheckConstraint(
                condition=Q(status="booked", appointment__isnull=False, booked_at__isnull=False)
                | ~Q(status="booked"),
                name="referral_booked_has_appointment",
            ),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="referral_open_idx")]

    def __str__(self) -> str:
        return f"Referral #{self.pk} for {self.appointment_type}"
