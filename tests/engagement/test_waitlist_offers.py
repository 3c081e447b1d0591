"""Waitlist offers by text: a freed slot goes to the first waiting matches at once; the
first YES is booked through a hold, the others hear it was taken."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from integrations.models import OutboxEvent
from scheduling import services
from scheduling.engagement.offers import waitlist_offers_expire, waitlist_offers_send
from scheduling.models import Appointment, Waitlist, WaitlistOffer
from tests import factories as f
from tests.scheduling.services_world import DAY, World, book

from .conftest import relay_all, reply, sent_texts

# 09:00 in Denver the day before the freed visit: daytime for every patient here.
DAYTIME = DAY - timedelta(days=1)


def _waiting(world: World, agent, n: int) -> list[Waitlist]:
    day = world.location.local(DAY).date()
    entries = []
    for _ in range(n):
        person = f.patient(consent_sms=True)
        entries.append(
            services.waitlist_add(
                patient=person, appointment_type=world.checkup, by=agent, earliest=day, latest=day
            )
        )
    return entries


def _free_a_slot(world: World, agent) -> None:
    first = book(world, agent)
    services.appointment_cancel(appointment=first, by=agent, reason="patient_request")


def _offer(settings) -> int:
    settings.ENGAGEMENT_OFFER_FAN_OUT = 2
    return waitlist_offers_send(since=timezone.now() - timedelta(hours=1), now=DAYTIME)


def _phone(entry: Waitlist) -> str:
    return f"+1{entry.patient.phone}"


@pytest.mark.django_db
def test_a_cancellation_offers_the_slot_to_the_first_two_waiting(sms, agent, settings):
    world = World()
    first, second, third = _waiting(world, agent, 3)
    _free_a_slot(world, agent)

    offered = _offer(settings)
    relay_all()

    assert offered == 2
    assert sorted(t.to for t in sent_texts()) == sorted([_phone(first), _phone(second)])
    assert "Reply YES within 30 minutes" in sent_texts()[0].body
    statuses = dict(Waitlist.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "offered", second.pk: "offered", third.pk: "open"}
    # A live offer holds the slot back from a third patient.
    assert _offer(settings) == 0


@pytest.mark.django_db
def test_the_first_yes_books_through_a_hold_and_the_second_hears_it_was_taken(sms, agent, settings):
    world = World()
    first, second = _waiting(world, agent, 2)
    _free_a_slot(world, agent)
    _offer(settings)

    reply(Client(), _phone(second), "yes", "SMy1")
    reply(Client(), _phone(first), "YES", "SMy2")
    relay_all()

    booked = Appointment.objects.get(status="booked")
    assert (booked.patient, booked.channel, booked.start) == (
        second.patient,
        "self",
        world.slots[0].start,
    )
    assert OutboxEvent.objects.filter(
        event_type="appointment.booked", aggregate_id=booked.pk
    ).exists()
    assert dict(WaitlistOffer.objects.values_list("entry_id", "status")) == {
        second.pk: "accepted",
        first.pk: "taken",
    }
    first.refresh_from_db()
    second.refresh_from_db()
    assert (second.status, second.appointment) == ("booked", booked)
    assert first.status == "open"
    last_to_first = [t.body for t in sent_texts() if t.to == _phone(first)][-1]
    assert "already taken" in last_to_first
    assert any("Booked:" in t.body for t in sent_texts() if t.to == _phone(second))


@pytest.mark.django_db
def test_no_passes_and_an_expired_offer_moves_on_to_the_next_in_line(sms, agent, settings):
    world = World()
    first, second, third = _waiting(world, agent, 3)
    settings.ENGAGEMENT_OFFER_FAN_OUT = 1
    _free_a_slot(world, agent)
    waitlist_offers_send(since=timezone.now() - timedelta(hours=1), now=DAYTIME)

    reply(Client(), _phone(first), "NO", "SMn1")
    waitlist_offers_send(since=timezone.now() - timedelta(hours=1), now=DAYTIME)
    expired = waitlist_offers_expire(now=DAYTIME + timedelta(hours=1))
    waitlist_offers_send(
        since=timezone.now() - timedelta(hours=1), now=DAYTIME + timedelta(hours=1)
    )

    assert expired == 1
    assert list(WaitlistOffer.objects.order_by("pk").values_list("entry_id", "status")) == [
        (first.pk, "declined"),
        (second.pk, "expired"),
        (third.pk, "offered"),
    ]


@pytest.mark.django_db
def test_no_offer_goes_out_at_night_or_to_a_patient_who_said_stop(sms, agent, settings):
    world = World()
    first, second = _waiting(world, agent, 2)
    type(first.patient).objects.filter(pk=first.patient.pk).update(sms_opted_out_at=timezone.now())
    _free_a_slot(world, agent)
    settings.ENGAGEMENT_OFFER_FAN_OUT = 2

    at_night = waitlist_offers_send(
        since=timezone.now() - timedelta(hours=1), now=DAYTIME - timedelta(hours=12)
    )
    by_day = waitlist_offers_send(since=timezone.now() - timedelta(hours=1), now=DAYTIME)

    assert (at_night, by_day) == (0, 1)
    assert WaitlistOffer.objects.get().entry == second


@pytest.mark.django_db(transaction=True)
def test_two_yes_replies_in_the_same_instant_make_one_booking(sms, agent, settings):
    world = World()
    first, second = _waiting(world, agent, 2)
    _free_a_slot(world, agent)
    _offer(settings)
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def say_yes(entry: Waitlist, sid: str) -> None:
        try:
            barrier.wait()
            answers.append(reply(Client(), _phone(entry), "YES", sid).status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=say_yes, args=(first, "SMr1")),
        threading.Thread(target=say_yes, args=(second, "SMr2")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert answers == [200, 200]
    assert Appointment.objects.filter(status="booked").count() == 1
    assert sorted(WaitlistOffer.objects.values_list("status", flat=True)) == ["accepted", "taken"]
