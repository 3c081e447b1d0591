"""The public self-scheduling page: identity by a one-time code, rate limits, booking."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.test import Client

from integrations.models import OutboxEvent
from scheduling.engagement import selfservice as ss
from scheduling.engagement.views import SENT
from scheduling.models import (
    Appointment,
    AppointmentType,
    Callback,
    PatientMessage,
    SelfServiceCode,
)
from tests import factories as f
from tests.scheduling.services_world import World

from .conftest import relay_all, sent_texts

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(sms):
    world = World()
    AppointmentType.objects.filter(pk=world.checkup.pk).update(self_service=True)
    world.patient = f.patient(
        first_name="Rosa", last_name="Marquez", date_of_birth=date(1980, 5, 6), consent_sms=False
    )
    return world


def _identify(client: Client, **over):
    data = {
        "step": "identify",
        "first_name": "Rosa",
        "last_name": "Marquez",
        "date_of_birth": "1980-05-06",
        "channel": "sms",
    }
    return client.post("/book/", {**data, **over})


def _code_sent_to(world) -> str:
    relay_all()
    text = [t for t in sent_texts() if t.to == f"+1{world.patient.phone}"][-1].body
    return re.search(r"\b(\d{6})\b", text).group(1)


def test_a_patient_verifies_with_a_code_then_books_and_the_location_hears_of_it(world):
    client = Client()

    asked = _identify(client)
    code = _code_sent_to(world)
    verified = client.post("/book/", {"step": "verify", "code": code})
    options = client.post("/book/", {"step": "search", "appointment_type": world.checkup.pk})
    slot_id = re.search(r'name="slot_id" value="(\d+)"', options.content.decode()).group(1)
    done = client.post(
        "/book/", {"step": "book", "appointment_type": world.checkup.pk, "slot_id": slot_id}
    )

    assert SENT in asked.content.decode()
    assert "Hello, Rosa." in verified.content.decode()
    assert done.status_code == 200 and "You are booked" in done.content.decode()
    appointment = Appointment.objects.get(patient=world.patient)
    assert (appointment.channel, appointment.status) == ("self", "booked")
    assert OutboxEvent.objects.filter(
        event_type="appointment.booked", aggregate_id=appointment.pk
    ).exists()


def test_the_answer_does_not_tell_whether_someone_matched(world):
    known = _identify(Client())
    unknown = _identify(Client(), last_name="Nobody")

    assert known.status_code == unknown.status_code == 200
    assert SENT in unknown.content.decode()
    assert (
        'id="book-code"' in known.content.decode() and 'id="book-code"' in unknown.content.decode()
    )
    assert SelfServiceCode.objects.count() == 1


def test_five_wrong_codes_lock_the_code_even_the_right_one_after(world):
    client = Client()
    _identify(client)
    code = _code_sent_to(world)
    wrong = "000000" if code != "000000" else "111111"

    answers = [
        client.post("/book/", {"step": "verify", "code": wrong}) for _ in range(ss.MAX_ATTEMPTS)
    ]
    after = client.post("/book/", {"step": "verify", "code": code})

    assert [a.status_code for a in answers] == [400] * ss.MAX_ATTEMPTS
    assert ss.ERR_CODE in answers[0].content.decode()
    assert after.status_code == 400 and ss.ERR_LOCKED in after.content.decode()
    assert "Hello, Rosa." not in after.content.decode()


def test_codes_per_patient_and_attempts_per_address_are_limited(world, settings):
    for _ in range(ss.MAX_CODES_PER_HOUR + 2):
        _identify(Client())
    assert SelfServiceCode.objects.count() == ss.MAX_CODES_PER_HOUR

    client = Client(REMOTE_ADDR="192.0.2.44")
    answers = [_identify(client, last_name=f"Guess{i}") for i in range(ss.MAX_REQUESTS_PER_HOUR)]
    refused = _identify(client)
    assert {a.status_code for a in answers} == {200}
    assert refused.status_code == 429 and ss.ERR_SLOWDOWN in refused.content.decode()


def test_a_code_is_good_once(world):
    client = Client()
    _identify(client)
    code = _code_sent_to(world)

    assert ss.code_verify(patient_id=world.patient.pk, code=code)
    assert not ss.code_verify(patient_id=world.patient.pk, code=code)


def test_nothing_identifying_travels_in_a_url(world):
    client = Client()
    responses = [_identify(client)]
    responses.append(client.post("/book/", {"step": "verify", "code": _code_sent_to(world)}))
    responses.append(
        client.post("/book/", {"step": "search", "appointment_type": world.checkup.pk})
    )

    for response in responses:
        page = response.content.decode()
        assert str(world.patient.pk) not in re.findall(r'(?:action|href)="([^"]*)"', page)
        assert "Marquez" not in page
        assert not re.search(r'<form[^>]*method="get"', page)


def test_a_visit_type_not_offered_online_cannot_be_booked(world):
    client = Client()
    _identify(client)
    client.post("/book/", {"step": "verify", "code": _code_sent_to(world)})

    refused = client.post(
        "/book/",
        {"step": "book", "appointment_type": world.consult.pk, "slot_id": world.slots[0].pk},
    )

    assert refused.status_code == 400
    assert not Appointment.objects.exists()


def test_a_new_patient_request_lands_on_the_agents_worklist(world):
    response = Client().post(
        "/book/",
        {
            "step": "new",
            "first_name": "Nia",
            "last_name": "New",
            "phone": "(720) 555-0142",
            "note": "cleaning",
        },
    )

    assert response.status_code == 200
    callback = Callback.objects.get()
    assert (callback.phone, callback.reason, callback.status) == (
        "7205550142",
        "new_problem",
        "open",
    )


def test_the_code_is_texted_even_without_reminder_consent_but_never_after_stop(world):
    _identify(Client())
    assert PatientMessage.objects.get(kind="code").channel == "sms"

    type(world.patient).objects.filter(pk=world.patient.pk).update(
        sms_opted_out_at="2026-01-01T00:00Z", email=""
    )
    _identify(Client())
    assert PatientMessage.objects.filter(kind="code").count() == 1


def test_each_verified_step_is_audited_as_the_patients_own(world):
    from config.compliance.selectors import disclosures

    client = Client()
    _identify(client)
    client.post("/book/", {"step": "verify", "code": _code_sent_to(world)})
    client.post("/book/", {"step": "search", "appointment_type": world.checkup.pk})

    entries = disclosures(patient_id=world.patient.pk).filter(surface="book")
    actions = [e.additional_data["action"] for e in entries.order_by("id")]
    assert actions[0] == "code sent" and "search" in actions
    assert {e.additional_data["actor"] for e in entries} == {"patient"}
