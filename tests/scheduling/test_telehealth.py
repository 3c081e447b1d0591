"""Telehealth visits: no room, a video link that travels, and licensure by the patient's
state as a hard rule with its reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings

from integrations.fhir.resources import appointment_resource, validated
from integrations.hl7v2 import outbound as hl7out
from integrations.hl7v2.validation import outbound_validate
from scheduling import selectors, services
from scheduling.engagement.replies import _visit
from scheduling.engagement.texts import render
from scheduling.models import ProviderLicense, Room
from tests import factories as f

from .services_world import DAY, book

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(world):
    Room.objects.create(location=world.location, code="op1", name="Operatory 1")
    ProviderLicense.objects.create(
        provider=world.provider, state="CO", number="CO-1", valid_until=DAY.date() + timedelta(1)
    )
    return f.appointment_type(name="Video consult", telehealth=True)


def test_a_telehealth_booking_for_an_out_of_state_patient_is_refused_with_the_reason(
    world, agent, video
):
    patient = f.patient(state="NJ")

    with pytest.raises(services.RuleViolation) as refused:
        book(world, agent, type_=video, patient=patient)

    assert refused.value.details == [f"{world.provider} is not licensed in NJ"]
    result = selectors.slot_search(
        patient=patient, appointment_type=video, user=agent, date_from=DAY.date()
    )
    assert result.options == ()
    assert [e.reasons for e in result.excluded if e.kind == "provider"] == [
        (f"{world.provider} is not licensed in NJ",)
    ]


def test_a_license_that_lapses_before_the_visit_refuses_it(world, agent, video):
    ProviderLicense.objects.update(valid_until=DAY.date() - timedelta(days=1))

    with pytest.raises(services.RuleViolation) as refused:
        book(world, agent, type_=video, patient=f.patient(state="CO"))

    assert "CO license is not valid on" in refused.value.details[0]


def test_a_licensed_video_visit_takes_no_room_and_carries_its_link(world, agent, video):
    appt = book(world, agent, type_=video, patient=f.patient(state="co"))

    assert appt.room is None
    prefix = settings.TELEHEALTH_LINK_TEMPLATE.split("{token}")[0]
    assert appt.video_link.startswith(prefix) and len(appt.video_token) >= 32
    # Each booking gets its own link; in-person visits get none.
    other = book(world, agent, type_=video, slot=world.slots[1], patient=f.patient(state="CO"))
    assert other.video_token != appt.video_token
    assert book(world, agent, slot=world.slots[2]).video_link == ""
    # Outbound: SIU as an NTE comment, FHIR as the patient instruction, and the text the
    # patient gets when confirming.
    wire = hl7out.AppointmentWire(
        hub_id=appt.pk,
        patient=hl7out.PatientWire(appt.patient_id, (), "Doe", "Jamie", *[""] * 10),
        start=appt.start,
        end=appt.end,
        type_code=video.code,
        type_name=video.name,
        duration_minutes=30,
        location_code=world.location.code,
        location_name=world.location.name,
        provider_npi=world.provider.npi,
        provider_last=world.provider.last_name,
        provider_first=world.provider.first_name,
        status=appt.status,
        video_link=appt.video_link,
        overbooked=True,
    )
    siu = hl7out.build_siu(wire, event_type="appointment.booked", control_id="1")
    assert siu.split("\r")[2:4] == [
        f"NTE|1||Video visit: {appt.video_link}",
        "NTE|2||Overbooked (deliberate double-booking)",
    ]
    outbound_validate(siu)  # hl7apy, strict: NTE sits where SIU^S12 allows it
    resource = validated(appointment_resource(appt, external=True))
    assert resource["patientInstruction"] == f"Join by video: {appt.video_link}"
    assert appt.video_link in render("confirmed", "en", _visit(appt))


def test_front_desk_video_visits_get_a_link_and_no_room_one_by_one_and_in_a_batch(world, video):
    patient = f.patient(state="CO")
    single = services.appointment_record_external(
        patient=patient,
        provider=world.provider,
        location=world.location,
        appointment_type=video,
        start=world.slots[0].start,
        end=world.slots[0].end,
        external_id="PMS-1",
    )
    (batched,) = services.appointments_record_external_batch(
        [
            services.ExternalBooking(
                patient_id=f.patient(state="CO").pk,
                provider_id=world.provider.pk,
                location_id=world.location.pk,
                appointment_type_id=video.pk,
                start=world.slots[1].start,
                end=world.slots[1].end,
                external_id="PMS-2",
            )
        ]
    )

    for appt in (single, batched):
        assert appt.room is None and appt.video_link, appt


def test_a_license_granted_then_lapsed_is_read_by_the_next_search(world, agent, video):
    # Licenses are kept with the network's facts between searches (PostgreSQL); any
    # write to them, a save or a bulk update, must reach the very next search.
    patient = f.patient(state="NJ")

    def search():
        return selectors.slot_search(
            patient=patient, appointment_type=video, user=agent, date_from=DAY.date()
        )

    assert search().options == ()
    assert search().options == ()  # the second search reads the kept licenses
    license_ = ProviderLicense.objects.create(
        provider=world.provider, state="NJ", number="NJ-7", valid_until=DAY.date() + timedelta(30)
    )
    assert {o.provider_id for o in search().options} == {world.provider.pk}
    ProviderLicense.objects.filter(pk=license_.pk).update(
        valid_until=DAY.date() - timedelta(days=1)
    )
    assert search().options == ()
