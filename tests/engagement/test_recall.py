"""Recall: patients due again for their periodic visit get one text (or email) with the
booking link, paced per location; the campaign page shows who booked and who opted out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from integrations.models import OutboxEvent
from scheduling.engagement.recall import recall_run
from scheduling.kpi.filters import KpiFilters
from scheduling.kpi.recall import recall_metrics
from scheduling.models import Appointment, PatientMessage, RecallOutreach, RecallRule
from tests import factories as f

from .conftest import booked

pytestmark = pytest.mark.django_db
# Noon in Denver: outside quiet hours.
NOON = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)


def _seen(patient, location, visit_type, months_ago: float, status: str = "completed"):
    start = NOON - timedelta(days=30.5 * months_ago)
    appt = booked(patient=patient, location=location, visit_type=visit_type, start=start)
    Appointment.objects.filter(pk=appt.pk).update(status=status)
    return appt


@pytest.fixture
def rule(visit_type):
    return RecallRule.objects.create(
        appointment_type=visit_type, interval_months=6, daily_per_location=2
    )


def _texted(denver, **kw):
    return f.patient(consent_sms=True, home_location=denver, **kw)


def test_a_patient_due_gets_one_text_with_the_booking_link_however_many_runs(
    rule, denver, visit_type
):
    due = _texted(denver)
    _seen(due, denver, visit_type, months_ago=7)
    recent = _texted(denver)
    _seen(recent, denver, visit_type, months_ago=3)
    rebooked = _texted(denver)
    _seen(rebooked, denver, visit_type, months_ago=8)
    booked(patient=rebooked, location=denver, visit_type=visit_type, start=NOON + timedelta(days=9))

    assert recall_run(now=NOON) == 1
    assert recall_run(now=NOON + timedelta(hours=1)) == 0

    message = PatientMessage.objects.get(kind="recall")
    assert message.patient == due and message.channel == "sms"
    assert f"/book/{denver.code}/" in message.body and due.last_name not in message.body
    assert OutboxEvent.objects.filter(event_type__contains="message").count() >= 1
    outreach = RecallOutreach.objects.get()
    assert (outreach.patient, outreach.message) == (due, message)


def test_the_pace_per_location_holds_the_rest_for_the_next_day(rule, denver, visit_type):
    for months in (7, 8, 9):
        _seen(_texted(denver), denver, visit_type, months_ago=months)

    assert recall_run(now=NOON) == 2, "two a day at this location"
    first = set(RecallOutreach.objects.values_list("last_visit", flat=True))
    assert recall_run(now=NOON + timedelta(hours=2)) == 0
    assert recall_run(now=NOON + timedelta(days=1, minutes=1)) == 1
    # The longest overdue went first.
    assert min(first) < max(RecallOutreach.objects.values_list("last_visit", flat=True))


def test_consent_opt_outs_and_quiet_hours_are_respected(rule, denver, visit_type):
    opted_out = _texted(denver, sms_opted_out_at=NOON - timedelta(days=5))
    no_consent = f.patient(consent_sms=False, consent_email=False, home_location=denver)
    emailed = f.patient(
        consent_sms=False, consent_email=True, email="r@example.org", home_location=denver
    )
    texted = _texted(denver)
    for p in (opted_out, no_consent, emailed, texted):
        _seen(p, denver, visit_type, months_ago=7)
    rule.daily_per_location = 10
    rule.save()

    night = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)  # 22:00 in Denver
    assert recall_run(now=night) == 1
    assert PatientMessage.objects.get().patient == emailed
    assert PatientMessage.objects.get().channel == "email"

    assert recall_run(now=NOON + timedelta(days=1)) == 1
    assert set(PatientMessage.objects.values_list("patient", flat=True)) == {
        emailed.pk,
        texted.pk,
    }


def test_the_campaign_page_shows_who_booked_and_who_opted_out(
    rule, denver, visit_type, ops_manager, client
):
    came_back, stopped, silent = _texted(denver), _texted(denver), _texted(denver)
    for p in (came_back, stopped, silent):
        _seen(p, denver, visit_type, months_ago=7)
    rule.daily_per_location = 10
    rule.save()
    # Yesterday at noon in Denver, outside quiet hours.
    contacted = (timezone.now() - timedelta(days=1)).replace(hour=19, minute=0)
    assert recall_run(now=contacted) == 3
    booked(
        patient=came_back,
        location=denver,
        visit_type=visit_type,
        start=timezone.now() + timedelta(days=4),
        created_ago=timedelta(minutes=5),
    )
    type(stopped).objects.filter(pk=stopped.pk).update(sms_opted_out_at=timezone.now())

    period = KpiFilters(date_from=date.today() - timedelta(days=2), date_to=date.today())
    metrics = {m.key: m for m in recall_metrics(period)}
    assert metrics["recall_contacted"].value == 3
    assert (metrics["recall_conversion"].numerator, metrics["recall_conversion"].denominator) == (
        1,
        3,
    )
    assert metrics["recall_opt_out"].numerator == 1
    client.force_login(ops_manager)
    page = client.get(f"/kpi/recall/?{period.query()}").content.decode()
    assert "Recall by home location" in page and denver.name in page
    csv_rows = client.get(f"/kpi/drill/recall/?{period.query()}&format=csv").content.decode()
    assert csv_rows.count("Booked") == 1 and csv_rows.count("Opted out") == 1
