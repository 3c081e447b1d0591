"""Admins set reminder steps per visit type and location, and people work the queue of
texts the hub could not act on."""

from __future__ import annotations

import pytest
from django.utils import timezone

from config.models import AuditEntry
from scheduling.models import ReminderCadence, ReplyReview
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_an_admin_adds_a_reminder_step_for_one_visit_type_at_one_location(admin_client):
    visit, site = f.appointment_type(), f.location()

    response = admin_client.post(
        "/admin/scheduling/remindercadence/add/",
        {
            "appointment_type": visit.pk,
            "location": site.pk,
            "channel": "sms",
            "hours_before": "2",
            "active": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:500]
    step = ReminderCadence.objects.get()
    assert (step.appointment_type, step.location, step.channel, step.hours_before) == (
        visit,
        site,
        "sms",
        2,
    )
    refused = admin_client.post(
        "/admin/scheduling/remindercadence/add/",
        {"channel": "sms", "hours_before": "0", "active": "on"},
    )
    assert refused.status_code == 200 and not ReminderCadence.objects.filter(hours_before=0)


def test_an_unclear_text_waits_in_admin_until_someone_marks_it_handled(admin_client):
    patient = f.patient()
    review = ReplyReview.objects.create(
        patient=patient, phone="3035550142", body="is it tuesday?", received_at=timezone.now()
    )

    listing = admin_client.get("/admin/scheduling/replyreview/?status__exact=open")
    assert listing.status_code == 200 and f"/admin/scheduling/replyreview/{review.pk}/" in (
        listing.content.decode()
    )
    admin_client.post(
        "/admin/scheduling/replyreview/",
        {"action": "mark_done", "_selected_action": [review.pk]},
    )

    review.refresh_from_db()
    assert review.status == "done"
    assert AuditEntry.objects.filter(
        content_type__model="replyreview", object_pk=str(review.pk), action=AuditEntry.Action.UPDATE
    ).exists()
