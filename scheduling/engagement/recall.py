"""Recall: contact patients due again for a periodic visit, with a link to book it online.

A patient is due when their last visit of the rule's type (booked, arrived or completed)
started ``interval_months`` or more ago. Each due visit is contacted once (a database
constraint, so two runs at once send one message), the longest-overdue first, at most
``daily_per_location`` per home location per day. Texts respect consent, opt-outs and
quiet hours in the patient's zone (a patient in quiet hours waits for a later run); a
patient without text consent is emailed if they consent to email.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from config.audit import audit_creates
from patients.models import Patient

from ..models import Appointment, Channel, PatientMessage, RecallOutreach, RecallRule
from .messages import patient_messages_queue
from .quiet import in_quiet_hours
from .texts import render

# How many due patients one run looks at per rule; the rest wait for the next run.
RUN_LIMIT = 5000


def recall_link(location_code: str | None) -> str:
    """The public self-scheduling page of the patient's home location: no patient data in
    it, the page asks them to identify themselves."""
    base = settings.ENGAGEMENT_PUBLIC_URL.rstrip("/")
    return f"{base}/book/{location_code}/" if location_code else f"{base}/book/"


def recall_run(*, now: datetime | None = None) -> int:
    """Contact the patients due now under every active rule; returns messages queued."""
    now = now or timezone.now()
    return sum(
        _run_rule(rule, now)
        for rule in RecallRule.objects.filter(active=True).select_related("appointment_type")
    )


def _channel(patient: Patient, now: datetime) -> str | None:
    if patient.consent_sms and patient.sms_opted_out_at is None and patient.phone:
        zone = patient.home_location.time_zone if patient.home_location else "UTC"
        quiet = (settings.ENGAGEMENT_QUIET_START_HOUR, settings.ENGAGEMENT_QUIET_END_HOUR)
        if in_quiet_hours(now, zone, start_hour=quiet[0], end_hour=quiet[1]):
            return None
        return Channel.SMS
    if patient.consent_email and patient.email:
        return Channel.EMAIL
    return None


def _run_rule(rule: RecallRule, now: datetime) -> int:
    cutoff = now - relativedelta(months=rule.interval_months)
    due = (
        Appointment.objects.filter(
            appointment_type=rule.appointment_type,
            status__in=[*Appointment.ACTIVE_STATUSES, Appointment.Status.COMPLETED],
        )
        .values("patient_id")
        .annotate(last=Max("start"))
        .filter(last__lt=cutoff)
        .order_by("last")
        .values_list("patient_id", "last")[:RUN_LIMIT]
    )
    rows = list(due)
    if not rows:
        return 0
    done = set(
        RecallOutreach.objects.filter(
            rule=rule, patient_id__in=[pid for pid, _ in rows]
        ).values_list("patient_id", "last_visit")
    )
    sent_today: Counter[int | None] = Counter(
        RecallOutreach.objects.filter(
            rule=rule, contacted_at__gt=now - timedelta(days=1)
        ).values_list("location_id", flat=True)
    )
    patients = Patient.objects.select_related("home_location").in_bulk([pid for pid, _ in rows])
    messages: list[PatientMessage] = []
    outreach: list[RecallOutreach] = []
    for pid, last in rows:
        patient = patients.get(pid)
        if patient is None or patient.status != Patient.Status.ACTIVE:
            continue
        if (pid, last.date()) in done:
            continue
        location = patient.home_location
        if sent_today[patient.home_location_id] >= rule.daily_per_location:
            continue
        channel = _channel(patient, now)
        if channel is None:
            continue
        language = patient.preferred_language or "en"
        visit_name = rule.appointment_type.name
        link = recall_link(location.code if location else None)
        messages.append(
            PatientMessage(
                patient=patient,
                location=location,
                kind=PatientMessage.Kind.RECALL,
                channel=channel,
                language=language,
                subject=render("recall_subject", language, type=visit_name)[:120]
                if channel == Channel.EMAIL
                else "",
                body=render("recall", language, type=visit_name, link=link),
                created_at=now,
            )
        )
        outreach.append(
            RecallOutreach(
                rule=rule,
                patient=patient,
                location=location,
                last_visit=last.date(),
                contacted_at=now,
            )
        )
        sent_today[patient.home_location_id] += 1
    if not outreach:
        return 0
    try:
        with transaction.atomic():
            # The outreach rows first: a run racing this one for the same patients loses
            # here, before any message of its batch is queued.
            RecallOutreach.objects.bulk_create(outreach)
            audit_creates(outreach)
            saved = patient_messages_queue(messages=messages)
            for row, message in zip(outreach, saved, strict=True):
                row.message = message
            RecallOutreach.objects.bulk_update(outreach, ["message"])
    except IntegrityError:
        return 0
    return len(saved)
