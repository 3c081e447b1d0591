"""Visits that need a dentist and a hygienist, a room, mobile equipment: search offers
only times when all are free, booking takes all of them, blocks keep them away."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.fhir.resources import appointment_resource, validated
from integrations.models import Connector, OutboxEvent
from integrations.relay import build_wire
from scheduling import services
from scheduling.api.base import appointment_data
from scheduling.models import AppointmentSlot, Hold, ResourceBooking, Slot
from scheduling.selectors import slot_search
from tests import factories as f
from tests.conformance.fhir_validator import assert_valid
from tests.conformance.test_hl7_conformance import strict
from tests.scheduling.resources_world import TwoResourceWorld
from tests.scheduling.services_world import DAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> TwoResourceWorld:
    return TwoResourceWorld()


def _starts(result) -> set:
    return {o.start for o in result.options}


def test_search_offers_only_the_times_the_hygienist_is_free_too(world):
    result = slot_search(patient=world.patient, appointment_type=world.visit)

    # The dentists are free all morning; the hygienist only 10:00-11:00 local.
    assert _starts(result) == {DAY + timedelta(minutes=60)}
    assert {o.provider_id for o in result.options} == {d.pk for d in world.dentists}


def test_search_says_the_hygienist_is_missing_when_she_is_booked(world, agent):
    f.appointment(
        patient=f.patient(), slot=world.hygiene_slots[0], appointment_type=f.appointment_type()
    )

    result = slot_search(patient=world.patient, appointment_type=world.visit)

    assert result.options == ()
    [excluded] = [e for e in result.excluded if e.kind == "location" and e.id == world.location.pk]
    assert excluded.reasons == (
        f"No Hygiene staff member is free at {world.location.name} for the whole visit",
    )


def test_a_location_without_any_hygienist_is_excluded_with_the_reason(world):
    elsewhere = f.location(region=world.location.region)
    dentist = f.provider(locations=[elsewhere])
    f.slot(provider=dentist, location=elsewhere, start=DAY)

    result = slot_search(patient=world.patient, appointment_type=world.visit)

    [excluded] = [e for e in result.excluded if e.kind == "location" and e.id == elsewhere.pk]
    assert excluded.reasons == (
        f"{elsewhere.name} has no Hygiene staff member, whom Exam with cleaning needs",
    )


def test_holding_and_booking_take_dentist_hygienist_and_room_together(world, agent):
    hold = services.hold_place(slot=world.slot_at(60), by=agent, appointment_type=world.visit)
    assert set(Hold.objects.filter(companion_of=hold).values_list("slot_id", flat=True)) == {
        s.pk for s in world.hygiene_slots
    }

    appt = services.appointment_book(
        hold=hold, patient=world.patient, appointment_type=world.visit, by=agent, reason="recall"
    )

    assert appt.assistant == world.hygienist
    assert appointment_data(appt)["assistant_id"] == world.hygienist.pk  # what the API shows
    assert appt.room == world.room
    linked = set(AppointmentSlot.objects.filter(appointment=appt).values_list("slot_id", flat=True))
    assert {s.pk for s in world.hygiene_slots} <= linked
    assert len(linked) == 4
    assert not Hold.objects.filter(consumed_at__isnull=True, released_at__isnull=True).exists()

    services.appointment_cancel(appointment=appt, by=agent, reason="patient_request")

    assert set(Slot.objects.filter(pk__in=linked).values_list("status", flat=True)) == {"free"}
    assert slot_search(patient=world.patient, appointment_type=world.visit).options


def test_releasing_the_hold_releases_the_hygienist(world, agent, other_agent):
    hold = services.hold_place(slot=world.slot_at(60), by=agent, appointment_type=world.visit)
    with pytest.raises(services.AssistantUnavailable):
        services.hold_place(
            slot=world.slot_at(60, dentist=1), by=other_agent, appointment_type=world.visit
        )

    services.hold_release(hold=hold, by=agent)

    other = services.hold_place(
        slot=world.slot_at(60, dentist=1), by=other_agent, appointment_type=world.visit
    )
    assert Hold.objects.filter(companion_of=other).count() == 2


def test_mobile_equipment_booked_at_one_location_is_busy_at_the_other(world, agent):
    nearby = f.location(region=world.location.region)
    dentist = f.provider(locations=[nearby])
    there = f.slot(provider=dentist, location=nearby, start=DAY)
    cart = world.cart(world.location, nearby)
    sedation = f.appointment_type(name="Sedation visit", mobile_equipment=cart)
    world.book(agent, world.slot_at(0), visit=sedation)

    result = slot_search(patient=f.patient(), appointment_type=sedation, location=nearby)

    assert DAY not in _starts(result)
    assert DAY + timedelta(minutes=30) not in _starts(result)  # nearby has only 09:00
    [excluded] = [e for e in result.excluded if e.kind == "location" and e.id == nearby.pk]
    assert excluded.reasons == ("The Sedation cart is booked elsewhere then",)
    with pytest.raises(services.EquipmentUnavailable):
        world.book(agent, there, visit=sedation, patient=f.patient())


def test_a_room_block_keeps_search_and_booking_away(world, agent, ops_manager):
    plain = f.appointment_type()
    services.resource_block_create(
        by=ops_manager,
        room=world.room,
        start=DAY,
        end=DAY + timedelta(minutes=60),
        reason="Sterilization",
    )

    result = slot_search(patient=world.patient, appointment_type=plain)

    assert min(_starts(result)) == DAY + timedelta(minutes=60)
    with pytest.raises(services.RoomUnavailable):
        world.book(agent, world.slot_at(30), visit=plain)


def test_a_block_over_a_booked_visit_is_refused(world, agent, ops_manager):
    world.book(agent, world.slot_at(60))

    with pytest.raises(services.ResourceBusy):
        services.resource_block_create(
            by=ops_manager,
            room=world.room,
            start=DAY + timedelta(minutes=90),
            end=DAY + timedelta(minutes=120),
            reason="Maintenance",
        )


def test_an_equipment_block_keeps_the_equipment_from_search(world, ops_manager):
    cart = world.cart(world.location)
    sedation = f.appointment_type(name="Sedation visit", mobile_equipment=cart)
    block = services.resource_block_create(
        by=ops_manager, equipment=cart, start=DAY, end=DAY + timedelta(hours=2), reason="Repair"
    )

    assert min(_starts(slot_search(patient=world.patient, appointment_type=sedation))) == (
        DAY + timedelta(hours=2)
    )

    services.resource_block_cancel(block=block, by=ops_manager)

    assert min(_starts(slot_search(patient=world.patient, appointment_type=sedation))) == DAY
    assert not ResourceBooking.objects.get(pk=block.pk).active


def test_an_admin_blocks_a_room_and_is_told_when_it_is_taken(world, admin_client):
    def post(hour: str, reason: str):
        return admin_client.post(
            "/admin/scheduling/resourcebooking/add/",
            {
                "room": world.room.pk,
                "start_0": DAY.date().isoformat(),
                "start_1": f"{hour}:00:00",
                "end_0": DAY.date().isoformat(),
                "end_1": f"{hour}:45:00",
                "reason": reason,
            },
        )

    assert post("16", "Sterilization").status_code == 302
    refused = post("16", "Maintenance")

    assert refused.status_code == 200
    assert services.ResourceBusy.message in refused.content.decode()
    assert list(ResourceBooking.objects.values_list("reason", flat=True)) == ["Sterilization"]


def test_the_location_systems_hear_of_the_hygienist_too(world, agent):
    """The PMS books the hygienist's column from a second AIP; a FHIR receiver sees her as
    the visit's secondary performer."""
    connector = Connector.objects.create(
        name="Two-resource PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=world.location,
        endpoint="127.0.0.1:1",
        sending_application="PMS",
        sending_facility="DEN",
    )
    before = set(OutboxEvent.objects.values_list("pk", flat=True))
    appt = world.book(agent, world.slot_at(60))

    [event] = OutboxEvent.objects.exclude(pk__in=before).filter(aggregate_type="appointment")
    raw = build_wire(event, connector, "C1").raw
    aips = [s.split("|") for s in raw.split("\r") if s.startswith("AIP|")]
    assert [a[3].split("^")[0] for a in aips] == [appt.provider.npi, world.hygienist.npi]
    assert aips[1][4] == "ASSIST^Assisting staff^L"
    strict(raw)

    resource = validated(appointment_resource(appt, external=True))
    [secondary] = [p for p in resource["participant"] if p.get("type")]
    assert secondary["actor"]["identifier"]["value"] == world.hygienist.npi
    assert secondary["type"][0]["coding"][0]["code"] == "SPRF"
    assert_valid(resource)


def test_where_the_cart_goes_is_read_by_the_next_search(world):
    # The cart's locations are kept with the network's facts between searches
    # (PostgreSQL); any write to them must reach the very next search.
    nearby = f.location(region=world.location.region)
    dentist = f.provider(locations=[nearby])
    f.slot(provider=dentist, location=nearby, start=DAY)
    cart = world.cart(world.location)
    sedation = f.appointment_type(name="Sedation visit", mobile_equipment=cart)

    def search():
        return slot_search(patient=f.patient(), appointment_type=sedation, location=nearby)

    assert search().options == ()
    assert search().options == ()  # the second search reads the kept cart
    cart.serves.add(nearby)
    assert _starts(search()) == {DAY}
    type(cart).objects.filter(pk=cart.pk).update(active=False)
    assert search().options == ()
