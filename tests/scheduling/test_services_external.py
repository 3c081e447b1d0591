"""Changes from a location's PMS through the services against the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import outbox
from integrations.models import OutboxEvent
from scheduling import selectors, services
from scheduling.models import (
    Appointment,
    Slot,
)
from tests import factories as f

from .services_world import book

pytestmark = pytest.mark.django_db


# --- changes from a location's PMS ------------------------------------------------------


def test_a_front_desk_booking_occupies_the_units_without_echo(world, agent):
    appt = services.appointment_record_external(
        patient=world.patient,
        provider=world.provider,
        location=world.location,
        appointment_type=world.consult,
        start=world.slots[2].start,
        end=world.slots[3].end,
        origin_connector_id=7,
        external_id="PMS-1",
    )
    again = services.appointment_record_external(
        patient=world.patient,
        provider=world.provider,
        location=world.location,
        appointment_type=world.consult,
        start=world.slots[2].start,
        end=world.slots[3].end,
        origin_connector_id=7,
        external_id="PMS-1",
    )

    assert again.pk == appt.pk and appt.channel == "location"
    found = selectors.appointment_by_external_id(location=world.location, external_id="PMS-1")
    assert found == appt
    assert (
        selectors.appointment_by_external_id(location=world.other_location, external_id="PMS-1")
        is None
    )
    assert set(Slot.objects.filter(status="booked").values_list("pk", flat=True)) == {
        world.slots[2].pk,
        world.slots[3].pk,
    }
    assert OutboxEvent.objects.get().payload == {"origin_connector_id": 7}
    with pytest.raises(services.SlotUnavailable):
        book(world, agent, slot=world.slots[3])


def test_a_front_desk_booking_over_a_booked_unit_is_refused(world, agent):
    book(world, agent)

    with pytest.raises(services.SlotUnavailable):
        services.appointment_record_external(
            patient=f.patient(),
            provider=world.provider,
            location=world.location,
            appointment_type=world.checkup,
            start=world.slots[0].start,
            end=world.slots[0].end,
        )
    assert Appointment.objects.count() == 1


def test_pms_moves_cancels_and_no_shows_apply(world, agent):
    appt = services.appointment_record_external(
        patient=world.patient,
        provider=world.provider,
        location=world.location,
        appointment_type=world.checkup,
        start=world.slots[0].start,
        end=world.slots[0].end,
        external_id="PMS-2",
    )

    moved = services.appointment_update_external(
        appointment=appt, start=world.slots[4].start, origin_connector_id=3
    )
    assert moved.start == world.slots[4].start and moved.end == world.slots[4].end
    assert Slot.objects.get(pk=world.slots[0].pk).status == "free"
    assert Slot.objects.get(pk=world.slots[4].pk).status == "booked"
    assert OutboxEvent.objects.order_by("pk").last().event_type == outbox.APPOINTMENT_MODIFIED

    with pytest.raises(services.InvalidExternalStatus):
        services.appointment_update_external(appointment=appt, status="cancelled")
    arrived = services.appointment_update_external(appointment=appt, status="arrived")
    assert arrived.status == "arrived"

    services.appointment_cancel_external(appointment=appt, origin_connector_id=3)
    appt.refresh_from_db()
    assert appt.status == "cancelled" and appt.cancel_reason == "other"
    assert Slot.objects.get(pk=world.slots[4].pk).status == "free"


def test_a_no_show_only_after_the_start(world, agent):
    appt = book(world, agent)
    with pytest.raises(services.AppointmentNotStarted):
        services.appointment_mark_no_show(appointment=appt)

    Appointment.objects.filter(pk=appt.pk).update(
        start=timezone.now() - timedelta(hours=2), end=timezone.now() - timedelta(hours=1)
    )
    services.appointment_mark_no_show(appointment=appt, origin_connector_id=4)

    appt.refresh_from_db()
    assert appt.status == "no_show"
    assert OutboxEvent.objects.order_by("pk").last().event_type == outbox.APPOINTMENT_NO_SHOW
