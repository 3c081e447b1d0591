"""A ``scheduling.PatientMessage`` as the channel sends it: address, text, invitation."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from ..models import Connector
from ..transports import TransportError
from .calendar import appointment_ics

ERR_NO_PHONE = "the patient has no phone number on file"
ERR_NO_EMAIL = "the patient has no email address on file"
ERR_GONE = "the message this event is about no longer exists"


def e164(digits: str) -> str:
    """Patients' phones are stored as digits; US numbers without the country code."""
    digits = "".join(ch for ch in digits if ch.isdigit())
    return f"+1{digits}" if len(digits) == 10 else f"+{digits}"


def messaging_targets(location_id: int | None, channel: str) -> list[Connector]:
    """The location's own messaging connector for the channel, else the group's one."""
    kind = Connector.Kind.SMS_TWILIO if channel == "sms" else Connector.Kind.EMAIL_SMTP
    candidates = list(
        Connector.objects.filter(
            enabled=True,
            kind=kind,
            role=Connector.Role.MESSAGING,
            direction__in=[Connector.Direction.OUTBOUND, Connector.Direction.BOTH],
        )
    )
    own = [c for c in candidates if location_id is not None and c.location_id == location_id]
    shared = [c for c in candidates if c.location_id is None]
    return (own or shared)[:1]


def message_wire(message_id: int) -> tuple[str, dict[str, Any], int]:
    """(raw, resource, patient id) for one PatientMessage, read now."""
    from scheduling.models import PatientMessage

    message = (
        PatientMessage.objects.select_related(
            "patient",
            "appointment",
            "appointment__location",
            "appointment__provider",
            "appointment__appointment_type",
        )
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        raise TransportError(ERR_GONE, permanent=True)
    patient = message.patient
    resource: dict[str, Any] = {"channel": message.channel, "body": message.body}
    if message.channel == "sms":
        if not patient.phone:
            raise TransportError(ERR_NO_PHONE, permanent=True)
        resource["to"] = e164(patient.phone)
    else:
        if not patient.email:
            raise TransportError(ERR_NO_EMAIL, permanent=True)
        resource["to"] = patient.email
        resource["subject"] = message.subject or "Care Hub"
        if message.appointment is not None:
            resource["ics"] = appointment_ics(
                message.appointment, organizer=getattr(settings, "DEFAULT_FROM_EMAIL", "")
            )
    return json.dumps(resource, sort_keys=True), resource, patient.pk
