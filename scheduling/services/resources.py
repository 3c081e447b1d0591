"""The resources a visit takes besides its provider's units, and blocks of a room or a
piece of mobile equipment (sterilization, maintenance).

Lock order (extends the package's): the provider's slot rows -> the second staff
member's slot rows -> hold rows -> patient row -> room rows -> mobile equipment row.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.audit import audit_set

from ..models import (
    Appointment,
    AppointmentSlot,
    AppointmentType,
    Call,
    Hold,
    MobileEquipment,
    Provider,
    ResourceBooking,
    Room,
    Slot,
)
from ..selectors.holds import live_holds, open_holds
from ..selectors.visit_resources import resource_taken
from .errors import AssistantUnavailable, EquipmentUnavailable, InvalidBlock, ResourceBusy


def _staff_units(
    provider_id: int, location_id: int, start: datetime, end: datetime, by: User, now: datetime
) -> list[Slot] | None:
    """Lock one staff member's units covering [start, end) at the location; None unless
    they are back to back, free, unbooked and held by nobody but ``by``."""
    units = list(
        Slot.objects.select_for_update()
        .filter(provider_id=provider_id, start__lt=end, end__gt=start)
        .order_by("start")
    )
    if not units or units[0].start > start or units[-1].end < end:
        return None
    if any(b.start != a.end for a, b in itertools.pairwise(units)):
        return None
    if any(u.location_id != location_id or u.status != Slot.Status.FREE for u in units):
        return None
    ids = [u.pk for u in units]
    if AppointmentSlot.objects.filter(slot_id__in=ids, active=True).exists():
        return None
    if live_holds(now).filter(slot_id__in=ids).exclude(held_by_id=by.pk).exists():
        return None
    return units


def assistant_units(
    *,
    appointment_type: AppointmentType,
    lead: Slot,
    end: datetime,
    by: User,
    now: datetime,
    prefer: int | None = None,
) -> tuple[int, list[Slot]]:
    """A second staff member with the visit type's assistant capability who works at the
    lead slot's location and is free for the whole visit, with their units locked.

    ``prefer``: the staff member already held for this visit, tried first. Precondition:
    inside a transaction, the lead provider's units already locked. Raises
    AssistantUnavailable when nobody fits: two agents racing for the last hygienist
    queue on that person's slot rows, and the second finds them held or booked.
    """
    staff = list(
        Provider.objects.filter(
            active=True,
            capabilities=appointment_type.assistant_capability_id,
            locations=lead.location_id,
        )
        .exclude(pk=lead.provider_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if prefer in staff:
        staff.remove(prefer)
        staff.insert(0, prefer)
    open_holds().filter(
        slot__provider_id__in=staff, slot__start__lt=end, slot__end__gt=lead.start
    ).filter(expires_at__lte=now).update(released_at=now)
    for provider_id in staff:
        units = _staff_units(provider_id, lead.location_id, lead.start, end, by, now)
        if units is not None:
            return provider_id, units
    raise AssistantUnavailable()


def assistant_hold(
    *,
    first: Hold,
    lead: Slot,
    appointment_type: AppointmentType,
    end: datetime,
    by: User,
    call: Call | None,
    now: datetime,
) -> None:
    """Hold the second staff member's units with the provider's hold ``first`` (renewing
    the ones it already has). Precondition: inside hold_place's transaction."""
    mine = list(open_holds().filter(companion_of=first, held_by=by))
    if mine and all(h.expires_at > now for h in mine):
        open_holds().filter(pk__in=[h.pk for h in mine]).update(expires_at=first.expires_at)
        return
    open_holds().filter(companion_of=first).update(released_at=now)
    _, units = assistant_units(
        appointment_type=appointment_type, lead=lead, end=end, by=by, now=now
    )
    for unit in units:
        try:
            with transaction.atomic():
                Hold.objects.update_or_create(
                    slot=unit,
                    held_by=by,
                    released_at=None,
                    consumed_at=None,
                    defaults={
                        "call": call,
                        "appointment_type": appointment_type,
                        "companion_of": first,
                        "created_at": now,
                        "expires_at": first.expires_at,
                    },
                )
        except IntegrityError:
            raise AssistantUnavailable() from None


def assistant_take(
    *,
    hold: Hold,
    appointment_type: AppointmentType,
    lead: Slot,
    end: datetime,
    by: User,
    now: datetime,
) -> tuple[int, list[Slot]]:
    """The second staff member for a booking: the one held with ``hold`` when still
    free, else any who fits. Precondition: the lead units are locked."""
    held = (
        open_holds()
        .filter(companion_of_id=hold.pk, held_by=by)
        .values_list("slot__provider_id", flat=True)
        .first()
    )
    return assistant_units(
        appointment_type=appointment_type, lead=lead, end=end, by=by, now=now, prefer=held
    )


def equipment_take(
    *, appointment: Appointment, equipment_id: int, by: User, now: datetime
) -> ResourceBooking:
    """Book the mobile equipment for the appointment's time. The equipment row is locked
    so bookings of it at any of its locations queue; on PostgreSQL the exclusion
    constraint ``resource_booking_equipment_no_overlap`` backs this up."""
    equipment = MobileEquipment.objects.select_for_update().filter(pk=equipment_id).first()
    if (
        equipment is None
        or not equipment.active
        or not equipment.serves.filter(pk=appointment.location_id).exists()
        or ResourceBooking.objects.filter(
            equipment=equipment, active=True, start__lt=appointment.end, end__gt=appointment.start
        ).exists()
    ):
        raise EquipmentUnavailable()
    try:
        with transaction.atomic():
            return ResourceBooking.objects.create(
                equipment=equipment,
                appointment=appointment,
                start=appointment.start,
                end=appointment.end,
                created_by=by,
                created_at=now,
            )
    except IntegrityError:
        raise EquipmentUnavailable() from None


def resources_release(*, appointment: Appointment) -> None:
    """Free the equipment and rooms an appointment took (its slot units are freed with
    its AppointmentSlot rows). Precondition: inside the caller's transaction."""
    taken = list(
        ResourceBooking.objects.filter(appointment=appointment, active=True).values_list(
            "pk", flat=True
        )
    )
    if taken:
        ResourceBooking.objects.filter(pk__in=taken).update(active=False)
        audit_set(ResourceBooking, taken, "active", True, False)


def resource_block_create(
    *,
    by: User,
    start: datetime,
    end: datetime,
    reason: str,
    room: Room | None = None,
    equipment: MobileEquipment | None = None,
) -> ResourceBooking:
    """Block a room or a piece of mobile equipment (sterilization, maintenance): search
    stops offering it and booking stops taking it. Refused when a visit or another
    block already has it then: move those first, nothing is cancelled silently."""
    reason = reason.strip()
    if (
        (room is None) == (equipment is None)
        or not reason
        or timezone.is_naive(start)
        or timezone.is_naive(end)
        or end <= start
    ):
        raise InvalidBlock()
    with transaction.atomic():
        if room is not None:
            Room.objects.select_for_update().filter(pk=room.pk).first()
        elif equipment is not None:
            MobileEquipment.objects.select_for_update().filter(pk=equipment.pk).first()
        if resource_taken(start=start, end=end, room=room, equipment=equipment):
            raise ResourceBusy()
        try:
            with transaction.atomic():
                return ResourceBooking.objects.create(
                    room=room,
                    equipment=equipment,
                    start=start,
                    end=end,
                    reason=reason[:120],
                    created_by=by,
                    created_at=timezone.now(),
                )
        except IntegrityError:
            raise ResourceBusy() from None


def resource_block_cancel(*, block: ResourceBooking, by: User) -> ResourceBooking:
    """Lift a block; a visit's own booking is freed only with the visit."""
    if not block.is_block:
        raise InvalidBlock()
    with transaction.atomic():
        locked = ResourceBooking.objects.select_for_update().get(pk=block.pk)
        if locked.active:
            locked.active = False
            locked.save(update_fields=["active"])
    return locked
