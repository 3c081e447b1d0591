from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q

from config.compiled_inserts import CompiledInserts
from config.crypto.fields import EncryptedCharField


def money(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=2, **kwargs)


class Payer(models.Model):
    name = models.CharField(max_length=120, unique=True)
    # The payer id a clearinghouse routes on (NM109 of loop 2010BB / 2100A).
    payer_code = models.CharField(max_length=20, unique=True)
    # Real-time eligibility is throttled per payer in the nightly batch.
    max_requests_per_minute = models.PositiveIntegerField(default=120)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Plan(models.Model):
    class Kind(models.TextChoices):
        PPO = "PPO", "PPO"
        HMO = "HMO", "HMO"
        EPO = "EPO", "EPO"
        INDEMNITY = "IND", "Indemnity"
        MEDICAID = "MCD", "Medicaid"
        MEDICARE = "MCR", "Medicare"

    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="plans")
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=3, choices=Kind.choices)

    class Meta:
        ordering = ["payer__name", "name"]

    def __str__(self) -> str:
        return f"{self.payer.name} {self.name}"


class NetworkParticipation(models.Model):
    """Whether a location or a provider is in network for a plan.

    Exactly one of location or provider is set. A missing row means out of network.
    """

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="participation")
    location = models.ForeignKey(
        "scheduling.Location",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="participation",
    )
    provider = models.ForeignKey(
        "scheduling.Provider",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="participation",
    )
    in_network = models.BooleanField(default=True)
    effective_from = models.DateField(null=True, blank=True)
    effective_until = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(location__isnull=False, provider__isnull=True)
                | Q(location__isnull=True, provider__isnull=False),
                name="participation_location_xor_provider",
                violation_error_message="Set either a location or a provider, not both.",
            ),
            models.UniqueConstraint(
                fields=["plan", "location"],
                condition=Q(location__isnull=False),
                name="participation_plan_location",
            ),
            models.UniqueConstraint(
                fields=["plan", "provider"],
                condition=Q(provider__isnull=False),
                name="participation_plan_provider",
            ),
        ]

    def __str__(self) -> str:
        status = "in" if self.in_network else "out of"
        return f"{self.plan} @ {self.location or self.provider}: {status} network"


class FeeSchedule(models.Model):
    payer = models.ForeignKey(Payer, on_delete=models.CASCADE, related_name="fees")
    procedure_code = models.CharField(max_length=10)
    amount = money()

    class Meta:
        ordering = ["payer", "procedure_code"]
        constraints = [
            models.UniqueConstraint(fields=["payer", "procedure_code"], name="fee_once_per_code"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.payer} {self.procedure_code} {self.amount}"


class EligibilityCheck(CompiledInserts, models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active coverage"
        INACTIVE = "inactive", "Inactive coverage"
        ERROR = "error", "Payer error"

    coverage = models.ForeignKey(
        "patients.Coverage", on_delete=models.CASCADE, related_name="eligibility_checks"
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="eligibility_checks",
    )
    requested_at = models.DateTimeField()
    # Set by the one sender that claims the check (a conditional UPDATE): a re-run or a
    # redelivered task finds it set and sends no second 270 while the answer is pending.
    sent_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    plan_begin = models.DateField(null=True, blank=True)
    plan_end = models.DateField(null=True, blank=True)
    copay = money(null=True, blank=True)
    deductible_remaining = money(null=True, blank=True)
    coinsurance_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # AAA rejections from the 271: [{"loop": "2100C", "code": "72", "message": "..."}]
    errors = models.JSONField(default=list, blank=True)
    message = models.ForeignKey(
        "integrations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The nightly run that asked, if any: its counters are recounted from its checks, so
    # a chunk sent by any worker, or twice, is counted once.
    batch_run = models.ForeignKey(
        "billing.EligibilityBatchRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="checks",
    )

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            models.Index(fields=["coverage", "-requested_at"], name="elig_coverage_recent_idx")
        ]

    def __str__(self) -> str:
        return f"Eligibility #{self.pk} ({self.status})"


class Encounter(CompiledInserts, models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open (scheduled / checked in)"
        DOCUMENTED = "documented", "Documented by the EHR"
        BILLED = "billed", "Claim created"
        VOID = "void", "Void"

    encounter_number = models.CharField(max_length=30, unique=True)
    appointment = models.OneToOneField(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="encounter",
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="encounters"
    )
    provider = models.ForeignKey(
        "scheduling.Provider", on_delete=models.PROTECT, related_name="encounters"
    )
    location = models.ForeignKey(
        "scheduling.Location", on_delete=models.PROTECT, related_name="encounters"
    )
    date_of_service = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    documented_at = models.DateTimeField(null=True, blank=True)
    # The EHR's note / document id that backs the codes (scrubber: high-dollar codes need it).
    documentation_ref = models.CharField(max_length=80, blank=True)
    # When the EHR signed the note (EncounterDocumentation.ehr_signed); None otherwise.
    ehr_documented_at = models.DateTimeField(null=True, blank=True)
    # Which EHR documented it, and a hash of what it sent: the same documentation twice
    # is recognised and changes nothing.
    documentation_source = models.CharField(max_length=60, blank=True)
    documentation_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-date_of_service"]

    def __str__(self) -> str:
        return self.encounter_number


class Diagnosis(models.Model):
    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="diagnoses")
    sequence = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=8, help_text="ICD-10-CM without the dot")

    class Meta:
        ordering = ["encounter", "sequence"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.UniqueConstraint(
                fields=["encounter", "sequence"], name="diagnosis_sequence_unique"
            ),
            # 837P carries at most 12 diagnoses (HI segment of loop 2300).
            models.CheckConstraint(
                condition=Q(sequence__gte=1, sequence__lte=12), name="diagnosis_sequence_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sequence}: {self.code}"


class Charge(models.Model):
    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="charges")
    line_number = models.PositiveSmallIntegerField()
    procedure_code = models.CharField(max_length=10, help_text="CPT / HCPCS / CDT")
    modifiers = models.JSONField(default=list, blank=True)
    units = models.PositiveSmallIntegerField(default=1)
    amount = money()
    # 1-based pointers into the encounter's diagnoses (SV107).
    diagnosis_pointers = models.JSONField(default=list, blank=True)
    service_date = models.DateField()

    class Meta:
        ordering = ["encounter", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["encounter", "line_number"], name="charge_line_unique"),
            models.CheckConstraint(condition=Q(units__gte=1), name="charge_units_positive"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="charge_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.line_number}: {self.procedure_code} x{self.units}"


class ClaimBatch(models.Model):
    # ISA13 interchange control number: unique and increasing (X12 5010 envelope).
    interchange_control_number = models.PositiveIntegerField(unique=True)
    group_control_number = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField()
    claim_count = models.PositiveIntegerField(default=0)
    total_charge = money(default=Decimal("0"))
    ack_status = models.CharField(max_length=12, blank=True, help_text="999: A, E, R")
    file_name = models.CharField(max_length=200, blank=True)
    payer = models.ForeignKey(
        Payer, null=True, blank=True, on_delete=models.PROTECT, related_name="batches"
    )
    message = models.ForeignKey(
        "integrations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-interchange_control_number"]
        verbose_name_plural = "claim batches"

    def __str__(self) -> str:
        return f"Batch ISA {self.interchange_control_number:09d}"


class Claim(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        HELD = "held", "Held by scrubber"
        READY = "ready", "Clean, ready to submit"
        SUBMITTED = "submitted", "Submitted"
        ACCEPTED = "accepted", "Accepted by payer"
        REJECTED = "rejected", "Rejected"
        PAID = "paid", "Paid"
        PARTIAL = "partial", "Partially paid"
        DENIED = "denied", "Denied"

    claim_number = models.CharField(max_length=38, unique=True, help_text="CLM01, echoed as CLP01")
    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="claims")
    coverage = models.ForeignKey(
        "patients.Coverage", on_delete=models.PROTECT, related_name="claims"
    )
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="claims")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    total_charge = money()
    paid_amount = money(default=Decimal("0"))
    patient_responsibility = money(default=Decimal("0"))
    batch = models.ForeignKey(
        ClaimBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="claims"
    )
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    # The payer's own number for the claim (277CA REF*1K, 835 CLP07). A claim sent again
    # after adjudication is a replacement (CLM05-3 = 7) that cites it in REF*F8.
    payer_claim_number = models.CharField(max_length=50, blank=True)
    frequency_code = models.CharField(
        max_length=1, default="1", help_text="CLM05-3: 1 original, 7 replacement"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_charge__gte=0), name="claim_total_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="claim_status_created_idx")]

    def __str__(self) -> str:
        return self.claim_number


class ClaimFinding(models.Model):
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="findings")
    code = models.CharField(max_length=40)
    message = models.CharField(max_length=300)
    resolved = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ClaimStatusHistory(models.Model):
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="history")
    status = models.CharField(max_length=10, choices=Claim.Status.choices)
    note = EncryptedCharField(max_length=200, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at"]
        verbose_name_plural = "claim status history"

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M}"


class Remittance(models.Model):
    """One 835 transaction (payment advice)."""

    payer = models.ForeignKey(
        Payer, null=True, blank=True, on_delete=models.PROTECT, related_name="remittances"
    )
    trace_number = models.CharField(max_length=50, help_text="TRN02")
    # Posting is idempotent on the file's content hash.
    content_hash = models.CharField(max_length=64, unique=True)
    total_paid = money()
    payment_date = models.DateField(null=True, blank=True)
    received_at = models.DateTimeField()
    message = models.ForeignKey(
        "integrations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"835 {self.trace_number}"


class RemittanceClaim(models.Model):
    """One CLP loop. ``claim`` is null when CLP01 matched nothing: the unmatched queue."""

    remittance = models.ForeignKey(Remittance, on_delete=models.CASCADE, related_name="claims")
    claim = models.ForeignKey(
        Claim, null=True, blank=True, on_delete=models.PROTECT, related_name="remittances"
    )
    clp01 = models.CharField(max_length=38)
    status_code = models.CharField(
        max_length=2, help_text="CLP02: 1 primary, 4 denied, 22 reversal…"
    )
    charge = money()
    paid = money()
    patient_responsibility = money(default=Decimal("0"))

    def __str__(self) -> str:
        return f"CLP {self.clp01} ({self.status_code})"


class Adjustment(models.Model):
    """A CAS adjustment (group code + CARC), optionally with a RARC remark."""

    remittance_claim = models.ForeignKey(
        RemittanceClaim, on_delete=models.CASCADE, related_name="adjustments"
    )
    procedure_code = models.CharField(max_length=10, blank=True)
    group_code = models.CharField(max_length=2, help_text="CO, PR, OA, PI, CR")
    reason_code = models.CharField(max_length=5, help_text="CARC")
    remark_code = models.CharField(max_length=6, blank=True, help_text="RARC")
    amount = money()
    # The line (or claim) this adjustment belongs to was paid nothing: a denial, which
    # feeds the denial report; contractual write-downs on paid lines are not denials.
    denied = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(group_code__in=["CO", "PR", "OA", "PI", "CR"]),
                name="adjustment_group_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_code}-{self.reason_code} {self.amount}"


class DiagnosisProcedureRule(models.Model):
    """Which diagnoses support a procedure: the scrubber's data-driven pairing table.

    A charge whose procedure code starts with ``procedure_prefix`` must point at least at
    one diagnosis starting with one of ``diagnosis_prefixes``. The most specific (longest)
    matching prefix wins; a procedure with no rule is not checked.
    """

    procedure_prefix = models.CharField(max_length=10, unique=True, help_text="e.g. D7 or D7240")
    diagnosis_prefixes = models.JSONField(help_text='ICD-10-CM prefixes, e.g. ["K01", "K08"]')
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["procedure_prefix"]

    def __str__(self) -> str:
        return f"{self.procedure_prefix} needs {', '.join(self.diagnosis_prefixes)}"


class ControlNumber(models.Model):
    """A counter for X12 control numbers (ISA13, GS06, 270 BHT03); locked to increment."""

    name = models.CharField(max_length=40, unique=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.last_value}"


class EligibilityBatchRun(models.Model):
    """One nightly (or on-demand) eligibility run: the progress ops watches."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    days = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    total = models.PositiveIntegerField(default=0, help_text="Appointments in the window")
    checked = models.PositiveIntegerField(default=0)
    active = models.PositiveIntegerField(default=0)
    inactive = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Fresh check or no coverage")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Eligibility run {self.started_at:%Y-%m-%d %H:%M} ({self.status})"


class BillingPermissions(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("work_claims", "Can work the claim queue")]

    def __str__(self) -> str:
        return "billing permissions"


# Its own module (this one is near the size limit); imported here so Django finds it.
from .attestations import DocumentationAttestation  # noqa: E402, F401
