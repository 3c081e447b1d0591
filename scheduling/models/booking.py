"""What gets booked: slots, holds, calls, appointments and the waitlist."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThan

from config.compiled_inserts import CompiledInserts
from config.crypto.fields import EncryptedCharField, EncryptedTextField

from .network import AppointmentType, Location, Provider, Room, ScheduleTemplate


class Slot(models.Model):
    """One bookable unit of a provider's time at a location (materialized from templates)."""

    class Status(models.TextChoices):
        FREE = "free", "Free"
        BOOKED = "booked", "Booked"
        BLOCKED = "blocked", "Blocked"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="slots")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="slots")
    template = models.ForeignKey(
        ScheduleTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="slots"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FREE)

    class Meta:
        ordering = ["start"]
        constraints = [
            # A provider is in one place at a time: this is what makes materialization
            # idempotent (re-running hits the conflict) and across-location overlap
            # impossible for equal slot grids.
            models.UniqueConstraint(
                fields=["provider", "start"], name="slot_provider_start_unique"
            ),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_end_after_start"),
        ]
        indexes = [
            # The slot finder scans free slots by time window across every location.
            models.Index(fields=["status", "start"], name="slot_status_start_idx"),
            models.Index(fields=["location", "start"], name="slot_location_start_idx"),
            # slot_search reads each provider/location pair's earliest free
            # units; this partial index makes that one ordered range scan that stops at
            # its LIMIT (without it the planner ANDs two bitmaps over every unit).
            models.Index(
                fields=["provider", "location", "start"],
                condition=Q(status="free"),
                name="slot_free_pair_start_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.start:%Y-%m-%d %H:%M}Z"


class Call(models.Model):
    class Outcome(models.TextChoices):
        BOOKED = "booked", "Booked"
        RESCHEDULED = "rescheduled", "Rescheduled"
        CANCELLED = "cancelled", "Cancelled"
        INFO_ONLY = "info_only", "Information only"
        TRANSFERRED = "transferred", "Transferred"
        CALLBACK = "callback", "Callback needed"
        # Set only by the system, for a call left open past CALL_ABANDON_MINUTES.
        ABANDONED = "abandoned", "Abandoned (left open)"

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calls"
    )
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    caller_phone = EncryptedCharField(max_length=20, blank=True)
    reason = models.CharField(max_length=60, blank=True, help_text="Why the patient called")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    notes = EncryptedTextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="call_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | ~Q(outcome=""),
                name="call_ended_has_outcome",
                violation_error_message="An ended call needs an outcome.",
            ),
        ]
        indexes = [models.Index(fields=["started_at"], name="call_started_idx")]

    def __str__(self) -> str:
        return f"Call #{self.pk}"


class Hold(CompiledInserts, models.Model):
    """A slot held for one agent's call while the patient decides."""

    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="holds")
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="holds"
    )
    call = models.ForeignKey(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="holds"
    )
    # The visit the slot was held for, so a console that lost its session (a new login)
    # can still book the hold it finds again.
    appointment_type = models.ForeignKey(
        "scheduling.AppointmentType",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # A hold on the second staff member's unit, taken with (and released and booked
    # with) the provider's hold it points at.
    companion_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="companions"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one live hold per slot, enforced by the database so that two
            # agents clicking the same slot at the same instant cannot both win.
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(released_at__isnull=True, consumed_at__isnull=True),
                name="hold_one_live_per_slot",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="hold_expiry_after_creation"
            ),
        ]

    def __str__(self) -> str:
        return f"Hold #{self.pk}"


class CancelReason(models.TextChoices):
    PATIENT_REQUEST = "patient_request", "Patient request"
    PATIENT_ILL = "patient_ill", "Patient ill"
    PROVIDER_UNAVAILABLE = "provider_unavailable", "Provider unavailable"
    WRONG_LOCATION = "wrong_location", "Booked at the wrong location"
    WRONG_PROVIDER = "wrong_provider", "Booked with the wrong provider"
    INSURANCE = "insurance", "Insurance issue"
    WEATHER = "weather", "Weather or closure"
    OTHER = "other", "Other"


class BookReason(models.TextChoices):
    NEW_PROBLEM = "new_problem", "New problem"
    FOLLOW_UP = "follow_up", "Follow-up"
    RECALL = "recall", "Recall / routine"
    REFERRAL = "referral", "Referral"
    URGENT = "urgent", "Urgent"


class CallReason(models.TextChoices):
    """Why the patient called (Call.reason). First-call resolution groups calls by patient
    and reason, and the seeded history (scheduling/demo/history.py) records the booking
    reason of the visit a call was about, so the visit reasons come first with the same
    codes; the rest cover calls that are not about a new visit. The choices live here, not
    on the field, so adding one needs no migration."""

    NEW_PROBLEM = "new_problem", "New problem"
    FOLLOW_UP = "follow_up", "Follow-up"
    RECALL = "recall", "Recall / routine"
    REFERRAL = "referral", "Referral"
    URGENT = "urgent", "Urgent"
    RESCHEDULE = "reschedule", "Reschedule an appointment"
    CANCEL = "cancel", "Cancel an appointment"
    BILLING = "billing", "Billing or insurance question"
    OTHER = "other", "Other question"


def overbook_has_reason(table: str) -> models.CheckConstraint:
    # The reason column holds ciphertext, and "" only for an empty reason, so its length
    # tells an empty reason from a given one without decrypting.
    return models.CheckConstraint(
        condition=Q(overbooked=False) | Q(GreaterThan(Length("overbook_reason"), 0)),
        name=f"{table}_overbook_has_reason",
        violation_error_message="An overbooking needs a reason.",
    )


class Appointment(CompiledInserts, models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        ARRIVED = "arrived", "Arrived"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"
        RESCHEDULED = "rescheduled", "Rescheduled"

    class Channel(models.TextChoices):
        AGENT = "agent", "Call-center agent"
        API = "api", "Partner API"
        FHIR = "fhir", "FHIR scheduling"
        SELF = "self", "Patient self-service"
        LOCATION = "location", "Location front desk (PMS)"

    ACTIVE_STATUSES = (Status.BOOKED, Status.ARRIVED)

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments"
    )
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="appointments")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="appointments"
    )
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments"
    )
    # The second staff member of a visit type that needs one; their slot units are
    # linked in AppointmentSlot like the provider's.
    assistant = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assisted_appointments",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BOOKED)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.AGENT)
    book_reason = models.CharField(max_length=20, choices=BookReason.choices, blank=True)
    cancel_reason = models.CharField(max_length=24, choices=CancelReason.choices, blank=True)
    network_override_reason = models.CharField(max_length=200, blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    call = models.ForeignKey(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments"
    )
    rescheduled_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rescheduled_to"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The patient confirmed (a "C" answer to a reminder); the booking stays active.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The location PMS's own id for a booking that arrived from it (SIU
    # SCH-2 filler id), so later updates and cancellations from that PMS find the row.
    # db_default: tools that predate the column can still insert rows.
    external_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    # A deliberate double-booking of a booked slot (services.overbook): the PostgreSQL
    # provider exclusion constraint skips these rows. The reason is typed during a call
    # and may describe the patient's situation, so it is encrypted.
    overbooked = models.BooleanField(default=False, db_default=False)
    overbook_reason = EncryptedCharField(max_length=200, blank=True, default="")
    # Random, per appointment, never derived from the patient: the telehealth link is
    # TELEHEALTH_LINK_TEMPLATE with this token (empty for in-person visits).
    video_token = models.CharField(max_length=43, blank=True, default="", db_default="")
    # The recurring series this visit belongs to, and its place in it (1-based, as
    # planned: a moved occurrence keeps its number).
    series = models.ForeignKey(
        "scheduling.AppointmentSeries",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="appointments",
    )
    series_occurrence = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="appointment_end_after_start"
            ),
            overbook_has_reason("appointment"),
            models.CheckConstraint(
                condition=~Q(status__in=["cancelled", "rescheduled"]) | ~Q(cancel_reason=""),
                name="appointment_cancel_has_reason",
                violation_error_message="A cancelled or rescheduled appointment needs a reason.",
            ),
            # One row per PMS booking id at a location.
            models.UniqueConstraint(
                fields=["location", "external_id"],
                condition=~Q(external_id=""),
                name="appointment_external_id_per_location",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "start"], name="appt_patient_start_idx"),
            models.Index(fields=["location", "start"], name="appt_location_start_idx"),
            models.Index(fields=["provider", "start"], name="appt_provider_start_idx"),
            models.Index(fields=["created_at"], name="appt_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Appointment #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def video_link(self) -> str:
        if not self.video_token:
            return ""
        return settings.TELEHEALTH_LINK_TEMPLATE.format(token=self.video_token)


class AppointmentSlot(models.Model):
    """Which slot units an appointment occupies.

    The partial unique index on ``slot`` for active rows is the double-booking guarantee
    that holds on SQLite too; PostgreSQL adds an exclusion constraint on time ranges.
    A second active link is possible only as a deliberate overbooking: marked, with a
    reason, and at most one per slot.
    """

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="slot_links"
    )
    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="appointment_links")
    active = models.BooleanField(default=True)
    overbooked = models.BooleanField(default=False, db_default=False)
    overbook_reason = EncryptedCharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(active=True, overbooked=False),
                name="slot_booked_once",
            ),
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(active=True, overbooked=True),
                name="slot_overbooked_once",
            ),
            overbook_has_reason("appointmentslot"),
        ]

    def __str__(self) -> str:
        return f"Appointment #{self.appointment_id} slot #{self.slot_id}"


class Waitlist(models.Model):
    class TimeOfDay(models.TextChoices):
        ANY = "any", "Any time"
        MORNING = "morning", "Morning (before noon)"
        AFTERNOON = "afternoon", "Afternoon (noon-5pm)"
        EVENING = "evening", "Evening (after 5pm)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        OFFERED = "offered", "Offered"
        BOOKED = "booked", "Booked"
        CLOSED = "closed", "Closed"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="waitlist_entries"
    )
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT)
    providers = models.ManyToManyField(Provider, blank=True)
    locations = models.ManyToManyField(Location, blank=True)
    earliest = models.DateField()
    latest = models.DateField()
    time_of_day = models.CharField(max_length=10, choices=TimeOfDay.choices, default=TimeOfDay.ANY)
    notes = EncryptedCharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    # The lifecycle: an agent offers a freed slot (offered), a booking that fits the
    # entry closes it (booked, with that appointment), or it is withdrawn (closed).
    offered_slot = models.ForeignKey(
        Slot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(
        "Appointment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="waitlist_entries",
        help_text="The booking that filled this entry",
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "waitlist entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(latest__gte=F("earliest")), name="waitlist_window_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"Waitlist #{self.pk}"
