from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.compiled_inserts import CompiledInserts
from config.crypto.fields import EncryptedCharField, EncryptedJSONField, EncryptedTextField

# What a partner integration normally needs; `issue_api_token --scopes` narrows it.
DEFAULT_TOKEN_SCOPES = ("book", "fhir", "read")
DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
KEY_START = "hub_"


class Connector(models.Model):
    """One external system the hub talks to: a location's EHR/PMS, a payer, a clearinghouse."""

    class Kind(models.TextChoices):
        HL7V2_MLLP = "hl7v2_mllp", "HL7 v2 over MLLP"
        FHIR_R4 = "fhir_r4", "FHIR R4 REST"
        X12_MAILBOX = "x12_mailbox", "X12 mailbox directory"
        SANDBOX = "sandbox", "Sandbox (simulated system)"
        # Twilio's Messages API (or the sandbox gateway speaking it): the endpoint is the
        # API base URL, sending_application the account SID, sending_facility the number
        # texts come from, credentials_ref the variable holding the auth token.
        SMS_TWILIO = "sms_twilio", "SMS (Twilio REST API)"
        # endpoint smtp://host:port (smtps:// for TLS), sending_facility the From address,
        # credentials_ref the variable holding "user:password" if the server wants one.
        EMAIL_SMTP = "email_smtp", "Email (SMTP)"

    class Role(models.TextChoices):
        LOCATION_EHR = "location_ehr", "Location EHR"
        LOCATION_PMS = "location_pms", "Location PMS"
        CLEARINGHOUSE = "clearinghouse", "Clearinghouse / payer"
        MESSAGING = "messaging", "Patient messaging"

    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"
        BOTH = "both", "Both"

    class ProcessingId(models.TextChoices):
        PRODUCTION = "P", "Production (P)"
        TRAINING = "T", "Training (T)"
        DEBUGGING = "D", "Debugging (D)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    role = models.CharField(max_length=14, choices=Role.choices)
    direction = models.CharField(max_length=4, choices=Direction.choices, default=Direction.BOTH)
    location = models.ForeignKey(
        "scheduling.Location",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="connectors",
    )
    payer = models.ForeignKey(
        "billing.Payer", null=True, blank=True, on_delete=models.CASCADE, related_name="connectors"
    )
    endpoint = models.CharField(
        max_length=300, blank=True, help_text="host:port, base URL or directory"
    )
    # Name of the environment variable holding the secret; the secret never enters the DB.
    credentials_ref = models.CharField(max_length=80, blank=True)
    # MSH-3 / MSH-4 this system sends as; inbound messages are matched to it.
    sending_application = models.CharField(max_length=60, blank=True)
    sending_facility = models.CharField(max_length=60, blank=True)
    # Assigning authority of the identifiers this system issues (PID-3.4).
    identifier_system = models.CharField(max_length=60, blank=True)
    message_types = models.JSONField(
        default=list, blank=True, help_text='e.g. ["ADT^A04", "SIU^S12"]'
    )
    enabled = models.BooleanField(default=True)
    # MSH-11 (HL7 table 0103) this connector applies: a production connector applies only
    # P; a T (training) or D (debugging) message is answered AE and never touches patients.
    processing_id = models.CharField(
        max_length=1, choices=ProcessingId.choices, default=ProcessingId.PRODUCTION
    )
    # Who may send as this connector over MLLP. Each one that is set must match; see
    # integrations.mllp.peers.
    peer_addresses = models.TextField(
        blank=True, help_text="Source addresses or networks allowed, e.g. 10.2.0.0/24 192.0.2.7"
    )
    peer_certificate_sha256 = models.CharField(
        max_length=95,
        blank=True,
        help_text="SHA-256 fingerprint of the client certificate (hex, colons optional)",
    )
    peer_certificate_subject = models.CharField(
        max_length=200, blank=True, help_text="Common name (CN) the client certificate must carry"
    )
    allow_plain_transport = models.BooleanField(
        default=False,
        help_text="Allow MLLP without TLS and http:// FHIR under production settings",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="clearinghouse") | Q(location__isnull=True),
                name="connector_clearinghouse_has_no_location",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .mllp.peers import address_allowed, normalize_fingerprint
        from .transport_security import plain_endpoint_refusal

        errors: dict[str, str] = {}
        for entry in self.peer_addresses.replace(",", " ").split():
            if not address_allowed(entry.split("/")[0], entry):
                errors["peer_addresses"] = f"{entry[:50]} is not an address or network"
        fingerprint = normalize_fingerprint(self.peer_certificate_sha256)
        if self.peer_certificate_sha256.strip() and len(fingerprint) != 64:
            errors["peer_certificate_sha256"] = "a SHA-256 fingerprint has 64 hex digits"
        refusal = plain_endpoint_refusal(self)
        if refusal:
            errors["endpoint"] = f"{refusal}, or allow plain transport for this connector"
        if errors:
            raise ValidationError(errors)


class Message(models.Model):
    """The ledger: every message in or out, raw, hashed, with its processing state."""

    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"

    class Protocol(models.TextChoices):
        HL7V2 = "hl7v2", "HL7 v2"
        FHIR = "fhir", "FHIR R4"
        X12 = "x12", "X12"
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, not processed"
        PROCESSED = "processed", "Processed"
        REJECTED = "rejected", "Rejected (bad message)"
        FAILED = "failed", "Failed, will retry"
        PENDING = "pending", "Pending delivery"
        SENT = "sent", "Delivered"
        DEAD = "dead", "Dead-lettered"
        RESOLVED = "resolved", "Resolved by hand"

    connector = models.ForeignKey(
        Connector, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    protocol = models.CharField(max_length=6, choices=Protocol.choices)
    message_type = models.CharField(max_length=20, blank=True)
    sender = models.CharField(max_length=130, blank=True, help_text="MSH-3|MSH-4 or ISA06")
    control_id = models.CharField(max_length=64, blank=True, help_text="MSH-10, ISA13, resource id")
    # Payloads carry PHI (PID, NM1/DMG, FHIR Patient): encrypted like any PHI column.
    raw = EncryptedTextField()
    sha256 = models.CharField(max_length=64)
    # HL7 v2 inbound: what tells a true duplicate (same content under the same MSH-10,
    # answered with its first ACK) from a correction; see integrations.hl7v2.duplicates.
    content_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    ack_code = models.CharField(max_length=4, blank=True)
    ack_raw = EncryptedTextField(blank=True)
    # Opaque per-patient ordering key (hash of the sender's patient id): FIFO per patient.
    ordering_key = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Outbound rows: the outbox event this delivery carries (one row per connector).
    outbox_event = models.ForeignKey(
        "OutboxEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    # Why a person should look at this row whatever its status (an X12 control number
    # reused for different content); empty when nothing needs a look.
    review_reason = models.CharField(max_length=300, blank=True)
    # The provider's id for an outbound text (Twilio's message SID), which its delivery
    # receipts quote.
    external_ref = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-received_at"]
        permissions = [("view_raw_message", "Can view raw message payloads (PHI)")]
        constraints = [
            # Duplicate delivery of the same (sender, control id) must have no second
            # effect. HL7 v2 has its own pair below: a corrected message may follow an AE
            # under the same MSH-10.
            models.UniqueConstraint(
                fields=["sender", "control_id"],
                condition=Q(direction="in")
                & ~Q(control_id="")
                & ~Q(protocol="x12")
                & ~Q(protocol="hl7v2"),
                name="message_inbound_dedupe",
            ),
            # One accepted HL7 v2 message per (sender, MSH-10), even from two listeners.
            models.UniqueConstraint(
                fields=["sender", "control_id"],
                condition=Q(direction="in", protocol="hl7v2", ack_code="AA") & ~Q(control_id=""),
                name="message_hl7_accepted_once",
            ),
            # The same content under the same MSH-10 is stored once, accepted or not.
            models.UniqueConstraint(
                fields=["sender", "control_id", "content_hash"],
                condition=Q(direction="in", protocol="hl7v2") & ~Q(control_id=""),
                name="message_hl7_content_once",
            ),
            # X12 files are duplicates when their content and transaction type are the
            # same: senders reuse ISA13 for different files (and across 271s and 835s),
            # so the envelope alone would drop real payments. Files with no readable ISA
            # were never deduplicated before, so the index leaves them out (the ledger
            # still looks them up by content) and existing ledgers migrate cleanly.
            models.UniqueConstraint(
                fields=["message_type", "sha256"],
                condition=Q(direction="in", protocol="x12") & ~Q(control_id=""),
                name="message_inbound_x12_content_dedupe",
            ),
            # A relay that dies after fanning an event out and before marking it cannot
            # create a second delivery of it to the same connector when it runs again.
            models.UniqueConstraint(
                fields=["outbox_event", "connector"],
                condition=Q(direction="out", outbox_event__isnull=False),
                name="message_outbound_once_per_connector",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="message_due_idx"),
            models.Index(fields=["connector", "-received_at"], name="message_connector_recent_idx"),
            models.Index(fields=["ordering_key", "received_at"], name="message_fifo_idx"),
            models.Index(
                fields=["external_ref"],
                condition=~Q(external_ref=""),
                name="message_external_ref_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.message_type} #{self.pk}"

    @staticmethod
    def hash_raw(raw: str) -> str:
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class OutboxEvent(CompiledInserts, models.Model):
    """A domain change other systems must see, written in the same transaction as the change.

    Domain code writes plain event names and ids; the relay in ``integrations`` turns them
    into wire messages, so no HL7 or FHIR leaves this app.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead-lettered"
        SKIPPED = "skipped", "No connector wants it"

    event_type = models.CharField(max_length=40, help_text="appointment.booked, patient.updated…")
    aggregate_type = models.CharField(max_length=40)
    aggregate_id = models.BigIntegerField()
    location = models.ForeignKey(
        "scheduling.Location", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = EncryptedJSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When the relay turned the event into one ledger row per target connector.
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}#{self.aggregate_id}"


class ApiToken(models.Model):
    """A bearer token for API and FHIR clients. Only its hash is stored.

    It acts as its owner (``user``) within its scopes, until it expires or is revoked.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read (API GET)"
        BOOK = "book", "Book (API writes; FHIR writes together with fhir)"
        FHIR = "fhir", "FHIR R4 endpoints"
        METRICS = "metrics", "Metrics scrape"
        ADMIN = "admin", "Everything the owner may do"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name="owner",
    )
    name = models.CharField(max_length=80, blank=True, help_text="What the token is for")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, help_text="First characters, to tell tokens apart")
    scopes = models.JSONField(default=list, help_text="Any of: read, book, fhir, metrics, admin")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… {self.name or 'token'} ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(
        cls,
        user: object,
        name: str = "",
        *,
        scopes: Iterable[str] = DEFAULT_TOKEN_SCOPES,
        expires_in: timedelta | None = DEFAULT_TOKEN_LIFETIME,
    ) -> tuple[ApiToken, str]:
        # The fixed start lets secret scanners spot a leaked key, and the printed prefix
        # never begins with "-", which command lines would read as an option.
        key = KEY_START + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            key_hash=cls.hash_key(key),
            prefix=key[: len(KEY_START) + 8],
            scopes=sorted(set(scopes)),
            expires_at=timezone.now() + expires_in if expires_in is not None else None,
        )
        return token, key

    def allows(self, needed: Iterable[str]) -> bool:
        granted = set(self.scopes)
        return self.Scope.ADMIN in granted or set(needed) <= granted

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class SandboxAppointment(models.Model):
    """The appointment book of a sandbox location PMS/EHR (a simulated external system).

    It is that system's own state, kept apart from the hub's tables: what the hub sent it
    over SIU and what its front desk booked. Its ids are its own (``external_id``).
    """

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"
        DOCUMENTED = "documented", "Visit documented"

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=64)
    hub_appointment_id = models.BigIntegerField(null=True, blank=True)
    patient_mrn = EncryptedCharField(max_length=64)
    hub_patient_id = models.BigIntegerField(null=True, blank=True)
    # The PMS's own copy of the demographics it sends back in PID (last, first, dob, sex).
    patient = EncryptedJSONField(default=dict, blank=True)
    provider_npi = models.CharField(max_length=10)
    type_code = models.CharField(max_length=40)
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BOOKED)
    booked_here = models.BooleanField(default=False, help_text="Booked at this front desk")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "external_id"], name="sandbox_appointment_id_unique"
            )
        ]
        indexes = [models.Index(fields=["connector", "status", "end"], name="sandbox_due_idx")]

    def __str__(self) -> str:
        return f"{self.connector} {self.external_id}"


class SyncCursor(models.Model):
    """How far the FHIR poller has read one resource type from one connector
    (the highest ``meta.lastUpdated`` it has stored)."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="cursors")
    resource_type = models.CharField(max_length=40)
    last_updated = models.CharField(max_length=40, blank=True, help_text="FHIR instant")
    polled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "resource_type"], name="sync_cursor_once_per_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.resource_type} > {self.last_updated}"


class PollHealth(models.Model):
    """How the last polls of one connector went (the FHIR poller), so an unreachable EHR
    shows on the health page instead of looking quiet."""

    connector = models.OneToOneField(
        Connector, on_delete=models.CASCADE, related_name="poll_health", primary_key=True
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # The transport's own sentence (host, status code, timeout): never resource content.
    last_error = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "poll health"

    def __str__(self) -> str:
        return f"{self.connector} poll health"

    @property
    def failing(self) -> bool:
        return self.last_failure_at is not None and (
            self.last_success_at is None or self.last_failure_at > self.last_success_at
        )


class ClinicalSegmentMap(models.Model):
    """Where a sender's own Z-segment carries a clinical fact, since Z-segments have no
    standard layout: which field holds the coded value (code^text^system, as a CE/CWE),
    and optionally which holds its status and which values of it mean "no longer true"."""

    class Kind(models.TextChoices):
        ALLERGY = "allergy", "Allergy"
        ALERT = "alert", "Alert"
        NEED = "need", "Care need"
        CONDITION = "condition", "Condition"

    connector = models.ForeignKey(
        Connector,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="clinical_segments",
        help_text="Empty: every HL7 sender.",
    )
    segment = models.CharField(
        max_length=3,
        validators=[RegexValidator(r"^Z[A-Z0-9]{2}$", "A Z-segment id, such as ZCN.")],
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    code_field = models.PositiveSmallIntegerField(help_text="Field number of code^text^system.")
    status_field = models.PositiveSmallIntegerField(null=True, blank=True)
    inactive_values = models.CharField(
        max_length=60, blank=True, help_text="Comma-separated status values that end the fact."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "segment"], name="clinical_segment_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment} ({self.get_kind_display()})"


# The telephony ledger and the sandbox SMS gateway's store live with their adapters;
# imported so Django registers them.
from .messaging.models import SandboxSms as SandboxSms  # noqa: E402
from .telephony.models import TelephonyEvent as TelephonyEvent  # noqa: E402
