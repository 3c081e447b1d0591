"""Patient engagement: reminder cadences, the messages the domain asks to send, the
replies a person must read, and waitlist offers made by text.

Scheduling writes a ``PatientMessage`` and announces it (``signals.patient_messages_queued``);
integrations turns it into an outbox row in the same transaction and the relay sends it
through the channel's connector, recording the transmission in the message ledger.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from config.crypto.fields import EncryptedCharField, EncryptedTextField

from .booking import Appointment, Slot, Waitlist
from .network import AppointmentType, Location


class Channel(models.TextChoices):
    SMS = "sms", "Text message"
    EMAIL = "email", "Email"


class ReminderCadence(models.Model):
    """One reminder step: "SMS 2 hours before" for a visit type at a location. Empty type
    or location means every one; the most specific steps do not replace the general ones,
    each active row is its own step."""

    appointment_type = models.ForeignKey(
        AppointmentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=5, choices=Channel.choices)
    hours_before = models.PositiveIntegerField(help_text="e.g. 168 (7 days), 48, 2")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-hours_before", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment_type", "location", "channel", "hours_before"],
                name="reminder_cadence_once",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=Q(hours_before__gt=0), name="reminder_cadence_ahead"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.hours_before} h before"


class PatientMessage(models.Model):
    """A message the domain asks integrations to send to one patient."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", "Appointment reminder"
        REPLY = "reply", "Answer to a patient's text"
        OFFER = "offer", "Waitlist offer"
        TAKEN = "taken", "Offer already taken"
        BOOKED = "booked", "Offer booked"
        CODE = "code", "One-time code"
        RECALL = "recall", "Recall outreach"
        SCHEDULE_CHANGE = "change", "Schedule change"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="engagement_messages"
    )
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    cadence = models.ForeignKey(
        ReminderCadence, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    language = models.CharField(max_length=8, default="en")
    subject = models.CharField(max_length=120, blank=True)
    body = EncryptedTextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One reminder per appointment and cadence step, however many runs (or
            # workers killed and restarted mid-run) select it.
            models.UniqueConstraint(
                fields=["appointment", "cadence"],
                condition=Q(cadence__isnull=False),
                name="patient_message_reminder_once",
            )
        ]
        indexes = [models.Index(fields=["patient", "-created_at"], name="pmsg_patient_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class ReplyReview(models.Model):
    """A patient's text the hub could not act on: a person reads it, it is never dropped."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phone = EncryptedCharField(max_length=20, blank=True)
    body = EncryptedTextField()
    received_at = models.DateTimeField()
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)

    class Meta:
        ordering = ["received_at", "pk"]
        indexes = [
            models.Index(
                fields=["received_at"], condition=Q(status="open"), name="reply_review_open_idx"
            )
        ]

    def __str__(self) -> str:
        return f"Reply review #{self.pk}"


class WaitlistOffer(models.Model):
    """A freed slot offered by text to one waiting patient."""

    class Status(models.TextChoices):
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted and booked"
        TAKEN = "taken", "Taken by someone else"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"

    entry = models.ForeignKey(Waitlist, on_delete=models.CASCADE, related_name="text_offers")
    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="text_offers")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OFFERED)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # First yes wins: the database admits one accepted offer per slot, whatever
            # two workers handling two YES replies in the same instant decide.
            models.UniqueConstraint(
                fields=["slot"], condition=Q(status="accepted"), name="waitlist_offer_one_winner"
            ),
            models.UniqueConstraint(fields=["entry", "slot"], name="waitlist_offer_once"),
        ]

    def __str__(self) -> str:
        return f"Waitlist offer #{self.pk}"


class SelfServiceCode(models.Model):
    """A one-time code that proves a patient holds the phone or email on file. Only a
    keyed hash of the code is kept; ``attempts`` counts wrong guesses, raised with a
    conditional update so parallel guesses cannot exceed the limit."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="self_service_codes"
    )
    code_hash = models.CharField(max_length=64)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "-created_at"], name="selfservice_code_idx")]

    def __str__(self) -> str:
        return f"Code #{self.pk}"
