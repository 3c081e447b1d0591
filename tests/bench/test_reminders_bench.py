"""Reminder run benchmark (make bench): 50,000 upcoming appointments get their reminder
run (select, render, enqueue: the PatientMessage rows and their outbox rows) in <= 30 s
on PostgreSQL. Figures go to the README's "Patient engagement"."""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import time
import zoneinfo
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations.models import OutboxEvent
from patients.models import Patient
from scheduling.engagement.reminders import reminders_run
from scheduling.models import Appointment, PatientMessage, ReminderCadence
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

N = int(os.environ.get("BENCH_REMINDERS_N", "50000"))
PROVIDERS = max(1, N // 166)  # 15-minute visits over 46 hours: 184 each, so no provider overlaps
RUNS = 3


def test_50000_reminders_are_selected_rendered_and_queued_within_30_seconds(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the target is stated for PostgreSQL")
    settings.INTEGRATIONS_KICK_RELAY = False
    denver = f.location(time_zone="America/Denver")
    visit = f.appointment_type(name="Periodic exam and cleaning")
    providers = [f.provider(locations=[denver]) for _ in range(PROVIDERS)]
    patients = Patient.objects.bulk_create(
        (
            Patient(
                first_name="Jamie",
                last_name=f"Bench{i}",
                date_of_birth=date(1980, 1, 1) + timedelta(days=i % 9000),
                phone=f"720{i:07d}",
                zip_code="80202",
                consent_sms=True,
                preferred_language="es" if i % 5 == 0 else "en",
            )
            for i in range(N)
        ),
        batch_size=5000,
    )
    # 10:00 in Denver tomorrow: daytime, so quiet hours hold nothing back.
    local = datetime.combine(
        timezone.now().date() + timedelta(days=1),
        datetime.min.time(),
        zoneinfo.ZoneInfo("America/Denver"),
    ).replace(hour=10)
    now = local
    booked_at = now - timedelta(days=10)
    per_provider = N // PROVIDERS + 1
    Appointment.objects.bulk_create(
        (
            Appointment(
                patient=p,
                provider=providers[i // per_provider],
                location=denver,
                appointment_type=visit,
                start=now + timedelta(hours=1, minutes=15 * (i % per_provider)),
                end=now + timedelta(hours=1, minutes=15 * (i % per_provider) + 15),
                created_at=booked_at,
                updated_at=booked_at,
            )
            for i, p in enumerate(patients)
        ),
        batch_size=5000,
    )
    ReminderCadence.objects.create(channel="sms", hours_before=48)

    timings = []
    for _ in range(RUNS):
        PatientMessage.objects.all().delete()
        OutboxEvent.objects.all().delete()
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        queued = reminders_run(now=now)
        timings.append(time.perf_counter() - started)
        if profile:
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        assert queued == N
        assert OutboxEvent.objects.filter(event_type="patient_message.send").count() == N

    median = statistics.median(timings)
    print(
        f"\nreminder run, {N} appointments: median {median:.1f} s "
        f"(runs {', '.join(f'{t:.1f}' for t in timings)} s)"
    )
    assert median <= 30
