"""The engagement KPI page: automation share with patients' own work, confirmation rate,
no-shows by reminder status, waitlist fill, opt-outs; drill-downs and CSV."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling.kpi.engagement import engagement_metrics
from scheduling.kpi.filters import KpiFilters
from scheduling.models import Appointment, PatientMessage
from tests import factories as f

from .conftest import booked

pytestmark = pytest.mark.django_db


def _filters() -> KpiFilters:
    today = timezone.now().date()
    return KpiFilters(date_from=today - timedelta(days=6), date_to=today)


def _metric(key: str):
    return {m.key: m for m in engagement_metrics(_filters())}[key]


def _reminded(appt: Appointment) -> None:
    PatientMessage.objects.create(
        patient=appt.patient,
        appointment=appt,
        kind="reminder",
        channel="sms",
        body="Reminder",
        created_at=timezone.now(),
    )


def test_confirmation_and_no_show_rates_split_by_reminder(db, denver, visit_type):
    yesterday = timezone.now() - timedelta(days=1)
    visits = [
        booked(
            patient=f.patient(),
            location=denver,
            visit_type=visit_type,
            start=yesterday + timedelta(hours=i),
        )
        for i in range(4)
    ]
    for appt in visits[:2]:
        _reminded(appt)
    Appointment.objects.filter(pk=visits[0].pk).update(
        confirmed_at=timezone.now(), status="completed"
    )
    Appointment.objects.filter(pk=visits[1].pk).update(status="no_show")
    Appointment.objects.filter(pk__in=[visits[2].pk, visits[3].pk]).update(status="completed")

    assert _metric("confirmation").value == 50.0
    assert _metric("no_show_reminded").value == 50.0
    assert _metric("no_show_unreminded").value == 0.0


def test_automation_share_counts_online_bookings_and_text_confirmations(db, denver, visit_type):
    start = timezone.now() + timedelta(days=3)
    online = booked(
        patient=f.patient(),
        location=denver,
        visit_type=visit_type,
        start=start,
        created_ago=timedelta(hours=1),
    )
    booked(
        patient=f.patient(),
        location=denver,
        visit_type=visit_type,
        start=start + timedelta(hours=1),
        created_ago=timedelta(hours=1),
    )
    Appointment.objects.filter(pk=online.pk).update(channel="self", confirmed_at=timezone.now())

    metric = _metric("engaged_automation")

    # 2 bookings + 1 confirmation; the online booking and the confirmation were automated.
    assert (metric.numerator, metric.denominator) == (2, 3)


def test_the_engagement_page_and_its_drill_down_render(admin_client, db, denver, visit_type):
    start = timezone.now() + timedelta(days=3)
    appt = booked(
        patient=f.patient(),
        location=denver,
        visit_type=visit_type,
        start=start,
        created_ago=timedelta(hours=1),
    )
    Appointment.objects.filter(pk=appt.pk).update(channel="self")

    page = admin_client.get("/kpi/engagement/")
    drill = admin_client.get("/kpi/drill/self_service_bookings/", {"format": "csv"})

    assert page.status_code == 200 and "Confirmation rate" in page.content.decode()
    assert drill.status_code == 200 and appt.patient.last_name in drill.content.decode()
