from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from config.crypto import blind_index
from config.crypto.fields import (
    BirthYearField,
    BlindIndexedModel,
    BlindIndexField,
    EncryptedCharField,
    EncryptedDateField,
    EncryptedEmailField,
)
from config.crypto.normalize import fold_name

# Checked by model validation now that the column is ciphertext the database cannot compare.
OLDEST_PLAUSIBLE_DOB = date(1890, 1, 1)


class Patient(BlindIndexedModel):
    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "O", "Other"
        UNKNOWN = "U", "Unknown"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        MERGED = "merged", "Merged into another record"
        INACTIVE = "inactive", "Inactive"

    # Names, birth date, phone, email and street address are encrypted (config.crypto);
    # exact lookups go through the *_bidx blind indexes beside them, and the name
    # indexes hold the folded name ("nunez"), as typo-tolerant search looks names up.
    first_name = EncryptedCharField(max_length=60)
    middle_name = EncryptedCharField(max_length=60, blank=True)
    last_name = EncryptedCharField(max_length=60)
    date_of_birth = EncryptedDateField(validators=[MinValueValidator(OLDEST_PLAUSIBLE_DOB)])
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    # Digits only (E.164 without the +1 for US numbers), so phone search is exact.
    phone = EncryptedCharField(max_length=15, blank=True)
    email = EncryptedEmailField(blank=True)
    address_line = EncryptedCharField(max_length=200, blank=True)
    first_name_bidx = BlindIndexField(source="first_name", normalizer="name", domain="name.first")
    last_name_bidx = BlindIndexField(source="last_name", normalizer="name", domain="name.last")
    date_of_birth_bidx = BlindIndexField(source="date_of_birth", normalizer="date", domain="dob")
    phone_bidx = BlindIndexField(source="phone", normalizer="digits", domain="phone")
    # Partial-number search narrows by the last four digits. Its own domain, so it never
    # equals a full-number index; it tells which patients share a last four, about one
    # number in ten thousand, which the full phone index already tells for whole numbers.
    phone_last4_bidx = BlindIndexField(source="phone", normalizer="last4", domain="phone.last4")
    # In clear for the KPI age-range test over every visit (see BirthYearField).
    birth_year = BirthYearField(source="date_of_birth")
    city = models.CharField(max_length=80, blank=True)
    state = models.CharField(max_length=2, blank=True)
    zip_code = models.CharField(max_length=10, blank=True)
    preferred_language = models.CharField(max_length=8, default="en", help_text="ISO 639-1")
    home_location = models.ForeignKey(
        "scheduling.Location", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_sms = models.BooleanField(default=False)
    consent_email = models.BooleanField(default=False)
    # A STOP answered by text: kept until the patient sends START, whatever a later
    # form or feed says about SMS consent.
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_records"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Not by name: the database cannot order ciphertext. Pages that show patients
        # sort the bounded page they show by name in Python.
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="merged", merged_into__isnull=False)
                | (~Q(status="merged") & Q(merged_into__isnull=True)),
                name="patient_merged_has_survivor",
                violation_error_message="Only a merged record points at a survivor, and it must.",
            ),
            models.CheckConstraint(
                condition=~Q(merged_into=F("id")), name="patient_not_merged_into_self"
            ),
        ]
        indexes = [
            models.Index(fields=["last_name_bidx", "first_name_bidx"], name="patient_name_bidx"),
            models.Index(fields=["date_of_birth_bidx"], name="patient_dob_bidx"),
            models.Index(fields=["phone_bidx"], name="patient_phone_bidx"),
            models.Index(fields=["phone_last4_bidx"], name="patient_phone_last4_bidx"),
            # The KPI pages join every visit to its patient for the age and language
            # tests; encrypted rows are four times wider, and this narrow index lets
            # PostgreSQL read those two columns without the table.
            models.Index(
                fields=["id", "birth_year", "preferred_language"], name="patient_kpi_facts_idx"
            ),
        ]

    def __str__(self) -> str:
        # Admin and audit show this; it is PHI and never goes to logs or URLs.
        return f"{self.last_name}, {self.first_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        fields = kwargs.get("update_fields")
        if fields is None or {"first_name", "last_name"} & set(fields):
            PatientName.remember([self])

    def age_on(self, day: date) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


class PatientName(models.Model):
    """Every folded first and last name any patient has had, encrypted, one row each.

    Typo-tolerant search compares what was typed with the distinct names in memory
    (``patients.selectors``), then finds the patients through the name blind index.
    Reading a few thousand rows here instead of decrypting every patient's name is what
    keeps that cache cheap to build. A name nobody has any more stays: it only costs a
    lookup that finds nobody.
    """

    class Kind(models.TextChoices):
        FIRST = "first", "First name"
        LAST = "last", "Last name"

    kind = models.CharField(max_length=5, choices=Kind.choices)
    bidx = models.CharField(max_length=32, help_text="Patient.<kind>_name_bidx of this name")
    folded = EncryptedCharField(max_length=60)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "bidx"], name="patient_name_once_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} name #{self.pk}"

    @classmethod
    def remember(cls, patients: Iterable[Patient]) -> None:
        """Record the names of ``patients`` (blind indexes already set) that the table
        does not hold yet: for a batch, one indexed read, then one INSERT of the new
        ones only, so a batch of known names encrypts and writes nothing."""
        names: dict[tuple[str, str], str] = {}
        for p in patients:
            for kind, name, bidx in (
                (cls.Kind.FIRST, p.first_name, p.first_name_bidx),
                (cls.Kind.LAST, p.last_name, p.last_name_bidx),
            ):
                if bidx:
                    names.setdefault((kind, bidx), name)
        if len(names) > 2:
            # For one patient's two names the read would cost the round trip it saves.
            held = PatientName.objects.filter(bidx__in={bidx for _, bidx in names})
            for key in held.values_list("kind", "bidx"):
                names.pop(key, None)
        if names:
            # ignore_conflicts: a concurrent batch may add the same name first.
            PatientName.objects.bulk_create(
                [
                    PatientName(kind=kind, bidx=bidx, folded=fold_name(name))
                    for (kind, bidx), name in names.items()
                ],
                ignore_conflicts=True,
                batch_size=2000,
            )


class PatientIdentifier(BlindIndexedModel):
    """A patient's id in one source system: the cross-reference of the master patient index."""

    class Kind(models.TextChoices):
        MRN = "MR", "Medical record number"
        PMS_ACCOUNT = "PI", "PMS patient id"
        EXTERNAL = "PT", "Partner / external id"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers")
    # Assigning authority, e.g. "DEN-EHR" for the Denver location's EHR.
    system = models.CharField(max_length=60)
    kind = models.CharField(max_length=2, choices=Kind.choices, default=Kind.MRN)
    value = EncryptedCharField(max_length=64)
    value_bidx = BlindIndexField(source="value", domain="identifier")
    location = models.ForeignKey(
        "scheduling.Location", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["system"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "value_bidx"], name="identifier_unique_per_system"
            )
        ]
        indexes = [models.Index(fields=["value_bidx"], name="identifier_value_bidx")]

    def __str__(self) -> str:
        return f"{self.system}:{self.value}"


class Coverage(BlindIndexedModel):
    class Priority(models.IntegerChoices):
        PRIMARY = 1, "Primary"
        SECONDARY = 2, "Secondary"

    class Relationship(models.TextChoices):
        SELF = "18", "Self"
        SPOUSE = "01", "Spouse"
        CHILD = "19", "Child"
        OTHER = "G8", "Other"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="coverages")
    plan = models.ForeignKey("billing.Plan", on_delete=models.PROTECT, related_name="coverages")
    member_id = EncryptedCharField(max_length=40)
    member_id_bidx = BlindIndexField(source="member_id", domain="member_id")
    group_number = models.CharField(max_length=40, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.PRIMARY)
    relationship = models.CharField(
        max_length=2, choices=Relationship.choices, default=Relationship.SELF
    )
    subscriber_first_name = EncryptedCharField(max_length=60, blank=True)
    subscriber_last_name = EncryptedCharField(max_length=60, blank=True)
    subscriber_dob = EncryptedDateField(null=True, blank=True)
    effective_from = models.DateField(null=True, blank=True)
    effective_until = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["patient", "priority"]
        verbose_name_plural = "coverage"
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "priority"],
                condition=Q(active=True),
                name="coverage_one_active_per_priority",
            ),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True)
                | Q(effective_from__isnull=True)
                | Q(effective_until__gte=F("effective_from")),
                name="coverage_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["member_id_bidx"], name="coverage_member_bidx")]

    def __str__(self) -> str:
        return f"{self.plan} ({self.get_priority_display()})"


class ClinicalNeedRule(models.Model):
    """Which EHR codes routing enforces, and how: a room or device the visit must have, or an
    alert the agent must see. A fact whose code has no rule is shown but not enforced.

    Codes are kept in clear: a code on its own names no one; the facts that carry one for a
    patient keep theirs encrypted and find a rule through ``ClinicalFact.code_bidx``.
    """

    code_system = models.CharField(
        max_length=200, blank=True, help_text="Empty matches the code in any code system."
    )
    code = models.CharField(max_length=64)
    description = models.CharField(max_length=200)
    requires_equipment = models.ForeignKey(
        "scheduling.Equipment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    provider_alert = models.CharField(
        max_length=200, blank=True, help_text="Shown to the agent and on the booking."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code_system", "code"], name="need_rule_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"


class ClinicalFact(BlindIndexedModel):
    """Clinical context synced from a location's EHR that decides where a patient can be seen."""

    class Kind(models.TextChoices):
        ALLERGY = "allergy", "Allergy"
        ALERT = "alert", "Alert"
        NEED = "need", "Care need"
        CONDITION = "condition", "Condition"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RESOLVED = "resolved", "Resolved"
        INACTIVE = "inactive", "Inactive"
        ENTERED_IN_ERROR = "entered_in_error", "Entered in error"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="clinical_facts")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    code = EncryptedCharField(
        max_length=40, blank=True, help_text="ICD-10-CM, SNOMED or local code"
    )
    code_bidx = BlindIndexField(source="code", normalizer="exact", domain="clinical-code")
    code_system = models.CharField(max_length=200, blank=True)
    description = EncryptedCharField(max_length=200)
    # The EHR's own record (FHIR AllergyIntolerance/…, an HL7 allergy or observation), as a
    # keyed HMAC of "source system|record id": the record id can be an MRN-bearing string.
    source_key = models.CharField(max_length=32, blank=True, default="", editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    need_rule = models.ForeignKey(
        ClinicalNeedRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="facts"
    )
    origin_connector_id = models.PositiveIntegerField(null=True, blank=True)
    # A need can require a piece of equipment (wheelchair-accessible operatory, sedation).
    requires_equipment = models.ForeignKey(
        "scheduling.Equipment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_system = models.CharField(max_length=60, blank=True)
    source_location = models.ForeignKey(
        "scheduling.Location", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "-recorded_at"]
        constraints = [
            # One row per EHR record: a re-sent or re-polled record updates it.
            models.UniqueConstraint(
                fields=["patient", "source_key"],
                condition=~Q(source_key=""),
                name="clinical_fact_source_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.description}"

    @staticmethod
    def source_key_of(source_system: str, record_id: str) -> str:
        return blind_index("clinical-fact-source", f"{source_system}|{record_id}")


class DuplicateCandidate(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        NOT_DUPLICATE = "not_duplicate", "Not a duplicate"
        MERGED = "merged", "Merged"

    patient_a = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    patient_b = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-score"]
        constraints = [
            # One row per unordered pair: store the lower id first.
            models.CheckConstraint(
                condition=Q(patient_a__lt=F("patient_b")), name="duplicate_pair_ordered"
            ),
            models.UniqueConstraint(
                fields=["patient_a", "patient_b"], name="duplicate_pair_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Possible duplicate #{self.patient_a_id} / #{self.patient_b_id}"


class PatientMerge(models.Model):
    """An ADT^A40-style merge, with the snapshot needed to reverse it."""

    survivor = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="merges_absorbed")
    merged = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="merges_into")
    snapshot = models.JSONField(default=dict)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    merged_at = models.DateTimeField()
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-merged_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(survivor=F("merged")), name="merge_distinct_patients"
            )
        ]

    def __str__(self) -> str:
        return f"Merge #{self.merged_id} into #{self.survivor_id}"
