"""Reminders: cadences, quiet hours in the patient's zone, consent, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from integrations.messaging.transport import TwilioSmsTransport
from integrations.models import Message
from scheduling.engagement.quiet import in_quiet_hours
from scheduling.engagement.reminders import reminders_run
from scheduling.models import PatientMessage
from tests import factories as f

from .conftest import booked, cadence, relay_all, sent_texts

pytestmark = pytest.mark.django_db


@pytest.fixture
def day():
    return (timezone.now() + timedelta(days=3)).astimezone(UTC)


@pytest.mark.parametrize(
    ("utc_hour", "zone", "quiet"),
    [
        (3, "America/Denver", False),  # 20:00 MST
        (4, "America/Denver", True),  # 21:00 MST
        (14, "America/Denver", True),  # 07:00 MST
        (15, "America/Denver", False),  # 08:00 MST
        (2, "America/New_York", True),  # 21:00 EST
        (15, "America/New_York", False),  # 10:00 EST
        (6, "Pacific/Honolulu", False),  # 20:00 HST
    ],
)
def test_quiet_hours_are_read_in_the_patients_own_zone(utc_hour, zone, quiet):
    winter = datetime(2026, 1, 15, utc_hour, tzinfo=UTC)
    assert in_quiet_hours(winter, zone, start_hour=21, end_hour=8) is quiet


def test_a_text_due_at_night_is_sent_once_the_night_is_over(sms, patient, denver, visit_type, day):
    zone = denver.tz
    local_start = datetime.combine(day.date(), datetime.min.time(), tzinfo=zone).replace(hour=10)
    appt = booked(patient=patient, location=denver, visit_type=visit_type, start=local_start)
    cadence(12)  # due at 22:00 Denver the evening before

    evening = reminders_run(now=local_start - timedelta(hours=12))
    before_eight = reminders_run(now=local_start - timedelta(hours=2, minutes=1))  # 07:59
    at_eight = reminders_run(now=local_start - timedelta(hours=2))  # 08:00
    relay_all()

    assert (evening, before_eight, at_eight) == (0, 0, 1)
    assert PatientMessage.objects.get().appointment == appt
    assert len(sent_texts()) == 1


def test_a_patient_in_another_zone_is_texted_by_their_own_clock(sms, denver, visit_type, day):
    honolulu = f.location(time_zone="Pacific/Honolulu")
    islander = f.patient(consent_sms=True, home_location=honolulu)
    local_start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(
        hour=11
    )
    booked(patient=islander, location=denver, visit_type=visit_type, start=local_start)
    cadence(4)

    # 08:00 in Denver is 05:00 in Honolulu: night for the patient.
    assert reminders_run(now=local_start - timedelta(hours=3)) == 0
    # 10:00 in Denver is 07:00 in Honolulu: still night there.
    assert reminders_run(now=local_start - timedelta(hours=1)) == 0


def test_reminders_follow_consent_and_stop(sms, denver, visit_type, day):
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    texts_ok = f.patient(consent_sms=True)
    no_consent = f.patient(consent_sms=False)
    stopped = f.patient(consent_sms=True, sms_opted_out_at=timezone.now())
    email_only = f.patient(consent_sms=False, consent_email=True, email="e@example.org")
    for person in (texts_ok, no_consent, stopped, email_only):
        booked(patient=person, location=denver, visit_type=visit_type, start=start)
    cadence(48)

    reminders_run(now=start - timedelta(hours=5))

    assert list(PatientMessage.objects.values_list("patient_id", flat=True)) == [texts_ok.pk]


def test_a_cadence_for_one_visit_type_at_one_location_reminds_only_those(
    sms, patient, denver, visit_type, day
):
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    other_type = f.appointment_type(name="Implant consult")
    mine = booked(patient=patient, location=denver, visit_type=visit_type, start=start)
    booked(
        patient=patient, location=denver, visit_type=other_type, start=start + timedelta(hours=1)
    )
    booked(
        patient=patient,
        location=f.location(),
        visit_type=visit_type,
        start=start + timedelta(hours=2),
    )
    cadence(48, appointment_type=visit_type, location=denver)

    reminders_run(now=start - timedelta(hours=5))

    assert list(PatientMessage.objects.values_list("appointment_id", flat=True)) == [mine.pk]


def test_spanish_speakers_get_the_spanish_text(sms, denver, visit_type, day):
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    booked(
        patient=f.patient(consent_sms=True, preferred_language="es"),
        location=denver,
        visit_type=visit_type,
        start=start,
    )
    cadence(48)

    reminders_run(now=start - timedelta(hours=5))
    relay_all()

    assert sent_texts()[0].body.startswith("Recordatorio: Cleaning")
    assert "Responda C para confirmar" in sent_texts()[0].body


def test_a_booking_made_after_a_step_came_due_skips_that_step(
    sms, patient, denver, visit_type, day
):
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    booked(
        patient=patient,
        location=denver,
        visit_type=visit_type,
        start=start,
        created_ago=timedelta(hours=1),
    )
    cadence(168)
    cadence(2)

    assert reminders_run(now=start - timedelta(hours=5)) == 0
    assert reminders_run(now=start - timedelta(hours=2)) == 1


class WorkerKilled(BaseException):
    """What the relay sees of a worker process dying: nothing after this line runs."""


def test_a_worker_killed_mid_send_sends_exactly_one_reminder(
    sms, patient, denver, visit_type, day, monkeypatch
):
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    booked(patient=patient, location=denver, visit_type=visit_type, start=start)
    cadence(48)
    real_send = TwilioSmsTransport.send

    def send_then_die(self, *args, **kwargs):
        real_send(self, *args, **kwargs)  # the provider has accepted the text...
        raise WorkerKilled  # ...and the worker dies before the ledger records it

    reminders_run(now=start - timedelta(hours=5))
    monkeypatch.setattr(TwilioSmsTransport, "send", send_then_die)
    with pytest.raises(WorkerKilled):
        relay_all()
    monkeypatch.setattr(TwilioSmsTransport, "send", real_send)
    # The reminder run is re-run by beat, and the dead worker's lease runs out.
    again = reminders_run(now=start - timedelta(hours=4))
    Message.objects.filter(direction="out").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    relay_all()

    assert again == 0
    assert len(sent_texts()) == 1
    ledger = Message.objects.get(direction="out")
    assert (ledger.status, ledger.external_ref) == ("sent", sent_texts()[0].sid)


def test_two_reminder_runs_queue_each_reminder_once(sms, patient, denver, visit_type, day):
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    booked(patient=patient, location=denver, visit_type=visit_type, start=start)
    cadence(48)
    cadence(2)

    first = reminders_run(now=start - timedelta(hours=5))
    second = reminders_run(now=start - timedelta(hours=5))
    third = reminders_run(now=start - timedelta(hours=1))

    assert (first, second, third) == (1, 0, 1)


def test_patients_without_a_number_or_address_are_left_out_not_dead_lettered(
    sms, denver, visit_type, day
):
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    booked(
        patient=f.patient(consent_sms=True, phone=""),
        location=denver,
        visit_type=visit_type,
        start=start,
    )
    booked(
        patient=f.patient(consent_email=True, email=""),
        location=denver,
        visit_type=visit_type,
        start=start,
    )
    cadence(48)
    cadence(48, channel="email")

    assert reminders_run(now=start - timedelta(hours=5)) == 0


def test_the_batch_path_stores_the_same_rows_and_announces_them(
    sms, patient, denver, visit_type, day, monkeypatch
):
    from scheduling.engagement import messages

    monkeypatch.setattr(messages, "FAST_PATH_ROWS", 1)
    start = datetime.combine(day.date(), datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    appt = booked(patient=patient, location=denver, visit_type=visit_type, start=start)
    cadence(48)

    reminders_run(now=start - timedelta(hours=5))
    relay_all()

    stored = PatientMessage.objects.get()
    assert (stored.appointment, stored.channel) == (appt, "sms")
    assert stored.body.startswith("Reminder: Cleaning")
    assert Message.objects.get(direction="out").status == "sent"
