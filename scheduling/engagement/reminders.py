"""The reminder run: select the appointments a cadence step has come due for, render
their texts, queue them. Set-based, so a 50,000-appointment day is one query per step."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from config.crypto.fields import blind_index_of
from patients.models import Patient

from ..models import Appointment, Channel, PatientMessage, ReminderCadence
from .messages import patient_messages_queue
from .quiet import in_quiet_hours
from .texts import Visit, render


def reminders_run(*, now: datetime | None = None) -> int:
    """Queue every reminder due now. Returns how many it queued.

    Idempotent: the unique (appointment, cadence) pair lets no run queue a reminder twice,
    and each step is run under its row lock, so two runs at once queue it once between
    them. Texts that fall in quiet hours are left for the first run after them.
    """
    now = now or timezone.now()
    total = 0
    for cadence_id in ReminderCadence.objects.filter(active=True).values_list("pk", flat=True):
        total += _run_step(cadence_id, now)
    return total


def _due(cadence: ReminderCadence, now: datetime) -> Q:
    lead = timedelta(hours=cadence.hours_before)
    # A step is due once its time has come, for bookings that already existed then: a
    # visit booked for tomorrow gets no "7 days before" email.
    due = Q(
        status=Appointment.Status.BOOKED,
        start__gt=now,
        start__lte=now + lead,
        created_at__lte=F("start") - lead,
    )
    if cadence.appointment_type_id:
        due &= Q(appointment_type_id=cadence.appointment_type_id)
    if cadence.location_id:
        due &= Q(location_id=cadence.location_id)
    if cadence.channel == Channel.SMS:
        due &= Q(patient__consent_sms=True, patient__sms_opted_out_at__isnull=True) & ~Q(
            patient__phone_bidx=blind_index_of(Patient, "phone_bidx", "")
        )
    else:
        # The address is encrypted, but an empty one is stored empty: patients without
        # one are left out here rather than dead-lettered at delivery.
        with_address = Patient.objects.filter(consent_email=True).extra(where=["email <> ''"])
        due &= Q(patient_id__in=with_address.values("pk"))
    return due


def _run_step(cadence_id: int, now: datetime) -> int:
    quiet = (settings.ENGAGEMENT_QUIET_START_HOUR, settings.ENGAGEMENT_QUIET_END_HOUR)
    with transaction.atomic():
        cadence = (
            ReminderCadence.objects.select_for_update().filter(pk=cadence_id, active=True).first()
        )
        if cadence is None:
            return 0
        sent = PatientMessage.objects.filter(appointment_id=OuterRef("pk"), cadence_id=cadence.pk)
        rows = (
            Appointment.objects.filter(_due(cadence, now))
            .exclude(Exists(sent))
            .values_list(
                "pk",
                "patient_id",
                "location_id",
                "start",
                "appointment_type__name",
                "location__name",
                "location__time_zone",
                "patient__preferred_language",
                "patient__home_location__time_zone",
                "video_token",
            )
        )
        messages: list[PatientMessage] = []
        # A day's visits share a few hundred starts, zones and languages: each text and
        # each quiet-hours answer is worked out once per combination, not once per visit.
        quiet_in: dict[str, bool] = {}
        texts: dict[tuple[Any, ...], tuple[str, str]] = {}
        for (
            pk,
            patient_id,
            location_id,
            start,
            type_name,
            place,
            zone,
            language,
            home,
            token,
        ) in rows:
            patient_zone = home or zone
            if cadence.channel == Channel.SMS:
                if patient_zone not in quiet_in:
                    quiet_in[patient_zone] = in_quiet_hours(
                        now, patient_zone, start_hour=quiet[0], end_hour=quiet[1]
                    )
                if quiet_in[patient_zone]:
                    continue
            # A telehealth visit's text carries its own link, so it is never shared.
            key = (start, zone, language, type_name, place, token)
            if key not in texts:
                link = settings.TELEHEALTH_LINK_TEMPLATE.format(token=token) if token else ""
                visit = Visit(type_name, place, start.astimezone(zoneinfo.ZoneInfo(zone)), link)
                texts[key] = (
                    render("reminder_subject", language, visit)[:120],
                    render("reminder", language, visit),
                )
            subject, body = texts[key]
            messages.append(
                PatientMessage(
                    patient_id=patient_id,
                    appointment_id=pk,
                    cadence_id=cadence.pk,
                    location_id=location_id,
                    kind=PatientMessage.Kind.REMINDER,
                    channel=cadence.channel,
                    language=language or "en",
                    subject=subject,
                    body=body,
                    created_at=now,
                )
            )
        patient_messages_queue(messages=messages)
    return len(messages)
