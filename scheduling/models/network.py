"""The network a call center books into: regions, locations and their hours, rooms,
providers, appointment types and the templates that become slots."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

from django.db import models
from django.db.models import F, Q

from ..validators import validate_npi, validate_time_zone


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class Region(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Equipment(models.Model):
    """A device or room feature an appointment may need (CBCT scanner, sedation suite)."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "equipment"

    def __str__(self) -> str:
        return self.name


class Capability(models.Model):
    """A provider specialty or skill (endodontics, implants, pediatrics, IV sedation)."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "capabilities"

    def __str__(self) -> str:
        return self.name


class Location(models.Model):
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="locations")
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120, unique=True)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    address_line = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=80, blank=True)
    state = models.CharField(max_length=2, blank=True)
    zip_code = models.CharField(max_length=10, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    npi = models.CharField(max_length=10, blank=True, validators=[validate_npi])
    equipment = models.ManyToManyField(Equipment, blank=True, related_name="locations")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="location_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="location_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)


class LocationHours(models.Model):
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["location", "weekday"]
        verbose_name_plural = "location hours"
        constraints = [
            models.UniqueConstraint(fields=["location", "weekday"], name="hours_once_per_day"),
            models.CheckConstraint(
                condition=Q(closes__gt=F("opens")), name="hours_close_after_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.location} {self.get_weekday_display()} {self.opens}-{self.closes}"


class LocationClosure(models.Model):
    """A holiday or closure day: no slots are materialized at the location that day."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="closures")
    date = models.DateField()
    reason = models.CharField(max_length=120)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["location", "date"], name="closure_once_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.location} closed {self.date}: {self.reason}"


class Room(models.Model):
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="rooms")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=80)
    equipment = models.ManyToManyField(Equipment, blank=True, related_name="rooms")

    class Meta:
        ordering = ["location", "code"]
        constraints = [
            models.UniqueConstraint(fields=["location", "code"], name="room_code_per_location")
        ]

    def __str__(self) -> str:
        return f"{self.location.code}/{self.name}"


class Provider(models.Model):
    npi = models.CharField(max_length=10, unique=True, validators=[validate_npi])
    first_name = models.CharField(max_length=60)
    last_name = models.CharField(max_length=60)
    credential = models.CharField(max_length=20, blank=True, help_text="DDS, DMD, MD, RDH…")
    capabilities = models.ManyToManyField(Capability, blank=True, related_name="providers")
    # ISO 639-1 codes, e.g. ["en", "es"].
    languages = models.JSONField(default=list, blank=True)
    min_patient_age = models.PositiveSmallIntegerField(default=0)
    max_patient_age = models.PositiveSmallIntegerField(default=120)
    accepts_new_patients = models.BooleanField(default=True)
    locations = models.ManyToManyField(Location, blank=True, related_name="providers")
    active = models.BooleanField(default=True)
    # Deliberate double-bookings allowed per local day (scheduling.services.overbook).
    overbook_daily_limit = models.PositiveSmallIntegerField(default=2, db_default=2)

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_patient_age__lte=F("max_patient_age")),
                name="provider_age_range_ordered",
            )
        ]

    def __str__(self) -> str:
        title = "Dr. " if self.credential in {"DDS", "DMD", "MD", "DO"} else ""
        return f"{title}{self.first_name} {self.last_name}".strip()


class AppointmentType(models.Model):
    class PatientStatus(models.TextChoices):
        ANY = "any", "New or existing"
        NEW = "new", "New patients only"
        EXISTING = "existing", "Existing patients only"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100, unique=True)
    duration_minutes = models.PositiveSmallIntegerField()
    required_capabilities = models.ManyToManyField(
        Capability, blank=True, related_name="appointment_types"
    )
    required_equipment = models.ManyToManyField(
        Equipment, blank=True, related_name="appointment_types"
    )
    patient_status = models.CharField(
        max_length=10, choices=PatientStatus.choices, default=PatientStatus.ANY
    )
    # A second staff member the visit needs at the same time and place (a hygienist or an
    # assistant: a provider with this capability and slots of their own).
    assistant_capability = models.ForeignKey(
        Capability,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assisted_types",
        help_text="A second staff member with this skill joins the visit",
    )
    mobile_equipment = models.ForeignKey(
        "scheduling.MobileEquipment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointment_types",
        help_text="Portable equipment the visit takes, busy at every location it serves",
    )
    # CPT/CDT codes usually billed for this visit; the sandbox EHR documents with them.
    # Offered on the public self-scheduling page (/book/) to verified patients.
    self_service = models.BooleanField(default=False)
    # A video visit: no room, a video link on the appointment, and the provider must be
    # licensed in the patient's state (rules.licensure).
    telehealth = models.BooleanField(default=False, db_default=False)
    typical_procedure_codes = models.JSONField(default=list, blank=True)
    typical_diagnosis_codes = models.JSONField(default=list, blank=True, help_text="ICD-10-CM")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gt=0) & Q(duration_minutes__lte=480),
                name="appointment_type_duration_positive",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ScheduleTemplate(models.Model):
    """Provider, location and weekday working hours that materialize into slots."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="templates")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="templates")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField(help_text="Local time at the location")
    end_time = models.TimeField(help_text="Local time at the location")
    slot_minutes = models.PositiveSmallIntegerField(default=30)
    break_start = models.TimeField(null=True, blank=True)
    break_end = models.TimeField(null=True, blank=True)
    valid_from = models.DateField(default=date.min)
    valid_until = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")),
                name="template_end_after_start",
                violation_error_message="The template's end time must be after its start time.",
            ),
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=5) & Q(slot_minutes__lte=240),
                name="template_slot_length_sane",
            ),
            models.CheckConstraint(
                condition=(Q(break_start__isnull=True) & Q(break_end__isnull=True))
                | (
                    Q(break_start__gte=F("start_time"))
                    & Q(break_end__gt=F("break_start"))
                    & Q(break_end__lte=F("end_time"))
                ),
                name="template_break_inside_hours",
                violation_error_message="A break must lie inside the template's hours.",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="template_validity_ordered",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.provider} @ {self.location.code} {self.get_weekday_display()} "
            f"{self.start_time:%H:%M}-{self.end_time:%H:%M}"
        )


class TimeOff(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name_plural = "time off"
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="time_off_ordered")
        ]

    def __str__(self) -> str:
        return f"{self.provider} off {self.starts_at:%Y-%m-%d}"


class ProviderLicense(models.Model):
    """A state license to practise; telehealth needs one in the patient's state."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="licenses")
    state = models.CharField(max_length=2, help_text="USPS code, e.g. NJ")
    number = models.CharField(max_length=40)
    valid_until = models.DateField(help_text="Last day the license is valid")

    class Meta:
        ordering = ["provider", "state"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "state", "number"], name="provider_license_unique"
            )
        ]
        indexes = [models.Index(fields=["state", "provider"], name="license_state_provider_idx")]

    def __str__(self) -> str:
        return f"{self.provider} {self.state} {self.number}"
