"""Two-way texts: C confirms, R asks for a callback, X cancels; STOP, HELP, START;
anything unclear goes to a person."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import OutboxEvent
from scheduling.engagement.reminders import reminders_run
from scheduling.models import Appointment, Callback, PatientMessage, ReplyReview, Slot
from tests import factories as f

from .conftest import booked, cadence, relay_all, reply, sent_texts

pytestmark = pytest.mark.django_db


@pytest.fixture
def reminded(sms, patient, denver, visit_type):
    day = (timezone.now() + timedelta(days=2)).date()
    start = datetime.combine(day, datetime.min.time(), tzinfo=denver.tz).replace(hour=14)
    appt = booked(patient=patient, location=denver, visit_type=visit_type, start=start)
    cadence(72)
    assert reminders_run(now=start - timedelta(hours=28)) == 1  # 10:00 in Denver
    relay_all()
    return appt


def _phone(patient) -> str:
    return f"+1{patient.phone}"


def test_c_confirms_the_reminded_visit_and_tells_the_location(reminded, patient):
    reply(Client(), _phone(patient), " c ", "SMc1")
    relay_all()

    reminded.refresh_from_db()
    assert reminded.confirmed_at is not None
    assert reminded.status == Appointment.Status.BOOKED
    assert OutboxEvent.objects.filter(
        event_type="appointment.modified", aggregate_id=reminded.pk
    ).exists()
    assert "is confirmed" in sent_texts()[-1].body


def test_x_cancels_with_the_patients_reason_and_frees_the_slot(reminded, patient):
    reply(Client(), _phone(patient), "X", "SMx1")

    reminded.refresh_from_db()
    assert (reminded.status, reminded.cancel_reason) == ("cancelled", "patient_request")
    assert Slot.objects.get(appointment_links__appointment=reminded).status == Slot.Status.FREE
    assert OutboxEvent.objects.filter(event_type="appointment.cancelled").exists()


def test_r_puts_a_callback_on_the_agents_worklist(reminded, patient):
    reply(Client(), _phone(patient), "R", "SMr1")
    relay_all()

    callback = Callback.objects.get()
    assert (callback.patient, callback.reason, callback.status) == (patient, "reschedule", "open")
    assert "call you" in sent_texts()[-1].body


def test_stop_opts_out_is_kept_and_start_opts_back_in(reminded, patient, denver, visit_type):
    reply(Client(), _phone(patient), "STOP", "SMs1")
    relay_all()
    patient.refresh_from_db()
    assert patient.sms_opted_out_at is not None and not patient.consent_sms
    assert "no more texts" in sent_texts()[-1].body
    later = reminded.start + timedelta(days=7)
    booked(patient=patient, location=denver, visit_type=visit_type, start=later)
    assert reminders_run(now=later - timedelta(hours=5)) == 0

    reply(Client(), _phone(patient), "START", "SMs2")
    patient.refresh_from_db()
    assert patient.sms_opted_out_at is None and patient.consent_sms
    assert reminders_run(now=later - timedelta(hours=5)) == 1


def test_help_is_answered_even_after_stop(reminded, patient):
    reply(Client(), _phone(patient), "STOP", "SMh1")
    reply(Client(), _phone(patient), "help", "SMh2")
    relay_all()

    assert "STOP to opt out" in sent_texts()[-1].body


def test_an_unclear_reply_goes_to_a_person_and_nothing_changes(reminded, patient):
    reply(Client(), _phone(patient), "can I come at 3 instead?", "SMu1")

    reminded.refresh_from_db()
    assert reminded.status == "booked" and reminded.confirmed_at is None
    review = ReplyReview.objects.get()
    assert (review.patient, review.body, review.status) == (
        patient,
        "can I come at 3 instead?",
        "open",
    )


def test_a_c_from_an_unknown_number_goes_to_review(sms):
    reply(Client(), "+17205550199", "C", "SMn1")

    review = ReplyReview.objects.get()
    assert (review.patient, review.phone) == (None, "7205550199")


def test_a_c_with_no_reminded_visit_goes_to_review(sms):
    someone = f.patient(consent_sms=True)
    reply(Client(), f"+1{someone.phone}", "C", "SMn2")

    assert ReplyReview.objects.get().patient == someone
    assert not PatientMessage.objects.exists()
