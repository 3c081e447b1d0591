"""SMS through the Twilio library to the sandbox gateway, email through a real SMTP
server, both through the outbox and into the ledger; the signed webhook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.messaging.webhook import ERR_FORGED, ERR_UNSIGNED
from integrations.models import Connector, Message, OutboxEvent
from scheduling.engagement.reminders import reminders_run
from scheduling.models import PatientMessage, ReplyReview

from .conftest import (
    ACCOUNT,
    HUB_NUMBER,
    booked,
    cadence,
    relay_all,
    reply,
    sent_texts,
    signed_post,
)

pytestmark = pytest.mark.django_db


def _tomorrow_noon():
    return (timezone.now() + timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)


def test_a_reminder_reaches_the_gateway_through_the_outbox_and_the_ledger(
    sms, patient, denver, visit_type
):
    appt = booked(patient=patient, location=denver, visit_type=visit_type, start=_tomorrow_noon())
    cadence(48)

    queued = reminders_run(now=appt.start - timedelta(hours=26))
    relay_all()

    assert queued == 1
    texts = sent_texts()
    assert [t.to for t in texts] == [f"+1{patient.phone}"]
    assert texts[0].from_number == HUB_NUMBER
    assert "Reply C to confirm" in texts[0].body
    assert OutboxEvent.objects.get().event_type == "patient_message.send"
    ledger = Message.objects.get(direction="out")
    assert (ledger.protocol, ledger.status, ledger.external_ref) == ("sms", "sent", texts[0].sid)


def test_a_gateway_that_refuses_the_credentials_dead_letters_the_text(
    sms, monkeypatch, patient, denver, visit_type
):
    monkeypatch.setenv("HUB_TEST_SMS_TOKEN", "not-the-token")
    Connector.objects.filter(pk=sms.pk).update(credentials_ref="HUB_TEST_SMS_TOKEN")
    appt = booked(patient=patient, location=denver, visit_type=visit_type, start=_tomorrow_noon())
    cadence(48)

    reminders_run(now=appt.start - timedelta(hours=26))
    relay_all()

    ledger = Message.objects.get(direction="out")
    assert ledger.status == "dead"
    assert "HTTP 401" in ledger.last_error
    assert sent_texts() == []


def test_an_email_reminder_carries_the_visit_as_an_icalendar_invitation(
    db, settings, smtp_server, patient, denver, visit_type
):
    settings.INTEGRATIONS_KICK_RELAY = False
    box, port = smtp_server
    Connector.objects.create(
        name="Group mail",
        kind=Connector.Kind.EMAIL_SMTP,
        role=Connector.Role.MESSAGING,
        endpoint=f"smtp://127.0.0.1:{port}",
        sending_facility="reminders@carehub.example",
    )
    appt = booked(
        patient=patient,
        location=denver,
        visit_type=visit_type,
        start=_tomorrow_noon() + timedelta(days=6),
    )
    cadence(168, channel="email")

    reminders_run(now=appt.start - timedelta(days=7) + timedelta(hours=1))
    relay_all()

    assert len(box.messages) == 1
    mail = box.messages[0]
    assert mail["To"] == "pat@example.org"
    parts = {p.get_content_type(): p for p in mail.walk()}
    ics = parts["text/calendar"].get_payload(decode=True).decode()
    assert f"UID:appointment-{appt.pk}@carehub" in ics
    assert "SUMMARY:Cleaning" in ics
    assert Message.objects.get(direction="out").protocol == "email"


def test_an_unreachable_smtp_server_is_retried_not_lost(db, settings, patient, denver, visit_type):
    settings.INTEGRATIONS_KICK_RELAY = False
    Connector.objects.create(
        name="Group mail",
        kind=Connector.Kind.EMAIL_SMTP,
        role=Connector.Role.MESSAGING,
        endpoint="smtp://127.0.0.1:9",
    )
    appt = booked(
        patient=patient,
        location=denver,
        visit_type=visit_type,
        start=_tomorrow_noon() + timedelta(days=6),
    )
    cadence(168, channel="email")

    reminders_run(now=appt.start - timedelta(days=7) + timedelta(hours=1))
    relay_all()

    ledger = Message.objects.get(direction="out")
    assert ledger.status == "failed"
    assert ledger.next_attempt_at > timezone.now()


def test_the_webhook_refuses_an_unsigned_call(sms, patient):
    response = Client().post(
        "/integrations/sms/webhook/",
        {"AccountSid": ACCOUNT, "MessageSid": "SM1", "From": "+1", "Body": "STOP"},
    )

    assert response.status_code == 403
    assert response.content.decode() == ERR_UNSIGNED
    assert not Message.objects.filter(direction="in").exists()


def test_the_webhook_refuses_a_forged_signature(sms, patient):
    params = {
        "AccountSid": ACCOUNT,
        "MessageSid": "SM2",
        "From": f"+1{patient.phone}",
        "Body": "STOP",
    }

    forged = signed_post(Client(), params, token="not-the-token")
    tampered = signed_post(Client(), {**params, "Body": "START"}, signature=_signature_for(params))

    assert (forged.status_code, tampered.status_code) == (403, 403)
    assert forged.content.decode() == ERR_FORGED
    patient.refresh_from_db()
    assert patient.sms_opted_out_at is None
    assert not Message.objects.filter(direction="in").exists()


def _signature_for(params):
    from twilio.request_validator import RequestValidator

    from .conftest import TOKEN, WEBHOOK

    return RequestValidator(TOKEN).compute_signature(WEBHOOK, params)


def test_a_signed_reply_is_stored_then_applied_once_even_when_the_provider_retries(sms, patient):
    first = reply(Client(), f"+1{patient.phone}", "what time is it?", "SM3")
    again = reply(Client(), f"+1{patient.phone}", "what time is it?", "SM3")

    assert (first.status_code, again.status_code) == (200, 200)
    assert "<Response>" in first.content.decode()
    stored = Message.objects.get(direction="in")
    assert (stored.protocol, stored.status) == ("sms", "processed")
    # Unclear: a person reads it, once.
    review = ReplyReview.objects.get()
    assert (review.patient, review.body) == (patient, "what time is it?")


def test_a_delivery_receipt_marks_the_ledger_row(sms, patient, denver, visit_type):
    appt = booked(patient=patient, location=denver, visit_type=visit_type, start=_tomorrow_noon())
    cadence(48)
    reminders_run(now=appt.start - timedelta(hours=26))
    relay_all()
    sid = sent_texts()[0].sid

    response = signed_post(
        Client(),
        {
            "AccountSid": ACCOUNT,
            "MessageSid": sid,
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
        },
    )

    assert response.status_code == 200
    ledger = Message.objects.get(direction="out")
    assert ledger.ack_code == "ERR"
    assert "undelivered 30003" in ledger.last_error
    assert PatientMessage.objects.count() == 1
