"""Reads of single appointments."""

from __future__ import annotations

from ..models import (
    Appointment,
    Location,
)
from .slot_search import _pk


def appointment_by_external_id(*, location: Location | int, external_id: str) -> Appointment | None:
    """The booking a location's PMS knows by ``external_id`` (SIU SCH-2), if recorded."""
    location_id = _pk(location)
    if not external_id or location_id is None:
        return None
    return (
        Appointment.objects.filter(location_id=location_id, external_id=external_id)
        .select_related("patient", "provider", "location", "appointment_type")
        .first()
    )
