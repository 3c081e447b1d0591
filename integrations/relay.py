"""The outbox relay: outbox events -> one ledger row per target connector -> delivery.

At least once, in order per patient and connector, with exponential backoff:

1. Fan-out claims a pending event and writes an outbound ledger row for each connector
   that wants it (never the connector the change came from), in one transaction; a
   unique constraint makes a re-run after a crash create nothing twice.
2. Delivery takes the oldest undelivered row of each (connector, patient) queue only,
   claims it with a conditional update (a lease, so two relays never send it at once),
   rebuilds the wire message from the current rows (a retry sends the latest truth,
   under the same control id so the receiver can drop a repeat), sends it and records
   the ACK. AE or a 4xx is permanent: dead-lettered at once. AR, timeouts and network
   errors back off (``integrations.retry``); after the last attempt the row is
   dead-lettered and the queue moves on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import retry
from .hl7v2 import outbound as hl7out
from .hl7v2.validation import OutboundInvalid, outbound_validate
from .messaging.transport import SmtpEmailTransport, TwilioSmsTransport
from .messaging.wire import message_wire, messaging_targets
from .models import Connector, Message, OutboxEvent
from .sandbox.system import SandboxTransport
from .transports import FhirTransport, MLLPTransport, Transport, TransportError

logger = logging.getLogger(__name__)

ERR_GONE = "the record this event is about no longer exists"
OUT_PENDING = (Message.Status.PENDING, Message.Status.FAILED)
HL7_KINDS = (Connector.Kind.HL7V2_MLLP, Connector.Kind.SANDBOX)
MESSAGING_KINDS = (Connector.Kind.SMS_TWILIO, Connector.Kind.EMAIL_SMTP)


def speaks_fhir(connector: Connector) -> bool:
    """FHIR connectors, and sandbox EHRs (a sandbox PMS speaks HL7 v2, a sandbox EHR FHIR)."""
    return connector.kind == Connector.Kind.FHIR_R4 or (
        connector.kind == Connector.Kind.SANDBOX and connector.role == Connector.Role.LOCATION_EHR
    )


def ordering_key(patient_id: int) -> str:
    return hashlib.sha256(f"patient:{patient_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Wire:
    message_type: str
    raw: str
    resource: dict[str, Any] | None
    patient_id: int


# -- reading the domain at delivery time --------------------------------------------
def _patient_wire(patient: Any, connector: Connector) -> hl7out.PatientWire:
    idents = tuple(
        (i.system, i.value, i.kind)
        for i in patient.identifiers.all()
        if not connector.identifier_system or i.system == connector.identifier_system
    )
    return hl7out.PatientWire(
        hub_id=patient.pk,
        identifiers=idents,
        last_name=patient.last_name,
        first_name=patient.first_name,
        middle_name=patient.middle_name,
        date_of_birth=patient.date_of_birth.strftime("%Y%m%d"),
        sex=patient.sex,
        phone=patient.phone,
        email=patient.email,
        address_line=patient.address_line,
        city=patient.city,
        state=patient.state,
        zip_code=patient.zip_code,
        language=patient.preferred_language,
    )


def _appointment(event: OutboxEvent) -> Any:
    from scheduling.models import Appointment

    return (
        Appointment.objects.select_related(
            "patient", "provider", "location", "appointment_type", "assistant"
        )
        .filter(pk=event.aggregate_id)
        .first()
    )


def _patient(patient_id: int) -> Any:
    from patients.models import Patient

    return Patient.objects.filter(pk=patient_id).first()


def build_wire(event: OutboxEvent, connector: Connector, control_id: str) -> Wire:
    """The message for one event and connector, from the rows as they are now."""
    from .fhir.resources import appointment_resource, patient_resource

    if event.aggregate_type == "patient_message":
        raw, resource, patient_id = message_wire(event.aggregate_id)
        return Wire(str(resource["channel"]).upper(), raw, resource, patient_id)
    if event.aggregate_type == "appointment":
        appt = _appointment(event)
        if appt is None:
            raise TransportError(ERR_GONE, permanent=True)
        if speaks_fhir(connector):
            resource = appointment_resource(appt, external=True)
            return Wire("FHIR Appointment", json.dumps(resource), resource, appt.patient_id)
        atype = appt.appointment_type
        wire = hl7out.AppointmentWire(
            hub_id=appt.pk,
            patient=_patient_wire(appt.patient, connector),
            start=appt.start,
            end=appt.end,
            type_code=atype.code,
            type_name=atype.name,
            duration_minutes=int((appt.end - appt.start).total_seconds() // 60),
            location_code=appt.location.code,
            location_name=appt.location.name,
            provider_npi=appt.provider.npi,
            provider_last=appt.provider.last_name,
            provider_first=appt.provider.first_name,
            status=appt.status,
            reason=appt.get_book_reason_display() if appt.book_reason else "",
            previous_hub_id=event.payload.get("previous_id"),
            video_link=appt.video_link,
            overbooked=appt.overbooked,
            series_id=appt.series_id,
            assistant=(
                (appt.assistant.npi, appt.assistant.last_name, appt.assistant.first_name)
                if appt.assistant_id
                else None
            ),
        )
        raw = hl7out.build_siu(
            wire,
            event_type=event.event_type,
            control_id=control_id,
            receiver_app=connector.sending_application,
            receiver_facility=connector.sending_facility,
        )
        trigger = hl7out.SIU_EVENTS[event.event_type][0]
        return Wire(f"SIU^{trigger}", raw, None, appt.patient_id)
    if event.aggregate_type == "patient":
        patient = _patient(event.aggregate_id)
        if patient is None:
            raise TransportError(ERR_GONE, permanent=True)
        if speaks_fhir(connector):
            resource = patient_resource(patient)
            resource.pop("id", None)
            resource.pop("meta", None)
            return Wire("FHIR Patient", json.dumps(resource), resource, patient.pk)
        raw = hl7out.build_adt(
            _patient_wire(patient, connector),
            event_type=event.event_type,
            control_id=control_id,
            receiver_app=connector.sending_application,
            receiver_facility=connector.sending_facility,
        )
        return Wire(f"ADT^{hl7out.ADT_EVENTS[event.event_type]}", raw, None, patient.pk)
    raise TransportError(f"no wire mapping for {event.aggregate_type}", permanent=True)


def _wanted_type(event: OutboxEvent, connector: Connector) -> str:
    if event.aggregate_type == "patient_message":
        return str(event.payload.get("channel", "sms")).upper()
    if event.aggregate_type == "appointment":
        if speaks_fhir(connector):
            return "Appointment"
        return f"SIU^{hl7out.SIU_EVENTS[event.event_type][0]}"
    if speaks_fhir(connector):
        return "Patient"
    return f"ADT^{hl7out.ADT_EVENTS[event.event_type]}"


def targets(event: OutboxEvent) -> list[Connector]:
    """Connectors that must hear about this event: the location's systems, except the one
    the change came from, filtered by the message types each connector takes. A patient
    message goes to one messaging connector (the location's, else the group's)."""
    if event.aggregate_type == "patient_message":
        return messaging_targets(event.location_id, str(event.payload.get("channel", "sms")))
    if event.location_id is None:
        return []
    connectors = Connector.objects.filter(
        enabled=True,
        location_id=event.location_id,
        direction__in=[Connector.Direction.OUTBOUND, Connector.Direction.BOTH],
        kind__in=[Connector.Kind.HL7V2_MLLP, Connector.Kind.FHIR_R4, Connector.Kind.SANDBOX],
    ).exclude(role=Connector.Role.CLEARINGHOUSE)
    origin = event.payload.get("origin_connector_id")
    if origin:
        connectors = connectors.exclude(pk=origin)
    return [
        c for c in connectors if not c.message_types or _wanted_type(event, c) in c.message_types
    ]


def _hl7_check(raw: str) -> None:
    """An SIU/ADT that is not valid v2.5.1 can never be delivered as built: dead-letter it
    (permanent), with hl7apy's reason in the ledger row's error, rather than send it."""
    try:
        outbound_validate(raw)
    except OutboundInvalid as exc:
        raise TransportError(str(exc), permanent=True) from None


def transport_for(connector: Connector, *, timeout: float) -> Transport:
    """How this connector is reached: MLLP, FHIR REST, or the in-process sandbox."""
    if connector.kind == Connector.Kind.HL7V2_MLLP:
        return MLLPTransport(connector, timeout=timeout)
    if connector.kind == Connector.Kind.FHIR_R4:
        return FhirTransport(connector, timeout=timeout)
    if connector.kind == Connector.Kind.SANDBOX:
        return SandboxTransport(connector, timeout=timeout)
    if connector.kind == Connector.Kind.SMS_TWILIO:
        return TwilioSmsTransport(connector, timeout=timeout)
    if connector.kind == Connector.Kind.EMAIL_SMTP:
        return SmtpEmailTransport(connector, timeout=timeout)
    raise TransportError(f"no transport for {connector.kind}", permanent=True)


# -- fan-out ---------------------------------------------------------------------------
def outbox_fan_out(*, limit: int = 500) -> int:
    """Turn pending events into outbound ledger rows. Returns how many events it handled."""
    now = timezone.now()
    handled = 0
    ids = list(
        OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, fanned_out_at__isnull=True)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for event_id in ids:
        with transaction.atomic():
            event = (
                OutboxEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, fanned_out_at__isnull=True)
                .first()
            )
            if event is None:
                continue  # another relay has it
            wanted = targets(event)
            event.fanned_out_at = now
            if not wanted:
                event.status = OutboxEvent.Status.SKIPPED
                event.save(update_fields=["status", "fanned_out_at"])
                handled += 1
                continue
            patient_id = _event_patient_id(event)
            for connector in wanted:
                Message.objects.get_or_create(
                    direction=Message.Direction.OUTBOUND,
                    outbox_event=event,
                    connector=connector,
                    defaults={
                        "protocol": _protocol(connector),
                        "message_type": _wanted_type(event, connector)[:20],
                        "sender": "CAREHUB|HUB",
                        "raw": "",
                        "sha256": "",
                        "status": Message.Status.PENDING,
                        "ordering_key": ordering_key(patient_id) if patient_id else "",
                        "received_at": now,
                        "next_attempt_at": now,
                    },
                )
            event.save(update_fields=["fanned_out_at"])
            handled += 1
    return handled


def _protocol(connector: Connector) -> str:
    if connector.kind == Connector.Kind.SMS_TWILIO:
        return Message.Protocol.SMS
    if connector.kind == Connector.Kind.EMAIL_SMTP:
        return Message.Protocol.EMAIL
    return Message.Protocol.FHIR if speaks_fhir(connector) else Message.Protocol.HL7V2


def _event_patient_id(event: OutboxEvent) -> int | None:
    if event.aggregate_type == "patient":
        return event.aggregate_id
    if event.aggregate_type == "patient_message":
        from scheduling.models import PatientMessage

        return (
            PatientMessage.objects.filter(pk=event.aggregate_id)
            .values_list("patient_id", flat=True)
            .first()
        )
    appt = _appointment(event)
    return appt.patient_id if appt else None


# -- delivery --------------------------------------------------------------------------
def _finish_event(event_id: int | None, now: datetime) -> None:
    if event_id is None:
        return
    statuses = set(
        Message.objects.filter(outbox_event_id=event_id).values_list("status", flat=True)
    )
    if statuses & set(OUT_PENDING):
        return
    status = (
        OutboxEvent.Status.DEAD if Message.Status.DEAD in statuses else OutboxEvent.Status.DELIVERED
    )
    OutboxEvent.objects.filter(pk=event_id).update(status=status, delivered_at=now)


def outbound_deliver(message_id: int, *, timeout: float | None = None) -> str:
    """Try one outbound row once. Returns its status afterwards (or "" if not ours)."""
    now = timezone.now()
    timeout = timeout or float(getattr(settings, "INTEGRATIONS_SEND_TIMEOUT", 10))
    lease = now + timedelta(seconds=timeout * 3 + 30)
    claimed = Message.objects.filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True),
        pk=message_id,
        direction=Message.Direction.OUTBOUND,
        status__in=OUT_PENDING,
    ).update(next_attempt_at=lease)
    if not claimed:
        return ""
    message = Message.objects.select_related("connector", "outbox_event").get(pk=message_id)
    control_id = message.control_id or f"H{message.pk}"
    connector = message.connector
    error: TransportError | None = None
    try:
        if connector is None or message.outbox_event is None:
            raise TransportError("the connector or event was deleted", permanent=True)
        if not connector.enabled:
            raise TransportError("connector disabled", permanent=False)
        wire = build_wire(message.outbox_event, connector, control_id)
        if connector.kind in MESSAGING_KINDS and message.sha256:
            # A text built before and never recorded may have reached the provider; the
            # transport asks it before sending again (exactly one reminder).
            wire = Wire(
                wire.message_type,
                wire.raw,
                {**(wire.resource or {}), "since": message.received_at.isoformat()},
                wire.patient_id,
            )
        message.raw, message.sha256 = wire.raw, Message.hash_raw(wire.raw)
        message.message_type = wire.message_type[:20]
        message.control_id = control_id
        message.save(update_fields=["raw", "sha256", "message_type", "control_id"])
        if wire.resource is None:
            _hl7_check(wire.raw)
        result = transport_for(connector, timeout=timeout).send(
            wire.raw, control_id=control_id, resource=wire.resource
        )
    except TransportError as exc:
        error = exc
    done = timezone.now()
    message.attempts += 1
    if error is None:
        message.status = Message.Status.SENT
        message.ack_code, message.ack_raw = result.ack_code[:4], result.response
        message.processed_at, message.next_attempt_at, message.last_error = done, None, ""
        if connector is not None and connector.kind in MESSAGING_KINDS:
            message.external_ref = result.response[:64]
        logger.debug("outbound message #%s delivered, ack %s", message.pk, message.ack_code)
    else:
        message.last_error = str(error)[:500]
        message.ack_raw = error.response
        if error.response:
            from .hl7v2.ack import ack_code

            message.ack_code = (ack_code(error.response) or "")[:4]
        if error.permanent or retry.exhausted(message.attempts):
            message.status = Message.Status.DEAD
            message.next_attempt_at = None
            message.processed_at = done
        else:
            message.status = Message.Status.FAILED
            message.next_attempt_at = done + retry.backoff(message.attempts)
    message.save(
        update_fields=[
            "status",
            "attempts",
            "ack_code",
            "ack_raw",
            "last_error",
            "processed_at",
            "next_attempt_at",
            "external_ref",
        ]
    )
    if message.status == Message.Status.DEAD:
        # The error is the receiver's text, which can quote the message: it stays in the
        # ledger row (encrypted at rest), not in the log.
        logger.warning(
            "outbound message #%s dead-lettered after %s attempts", message.pk, message.attempts
        )
    _finish_event(message.outbox_event_id, done)
    return message.status


def outbound_deliver_due(*, limit: int = 500) -> int:
    """Deliver the head of every (connector, patient) queue that is due. Returns sent count."""
    now = timezone.now()
    due = list(
        Message.objects.filter(
            Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True),
            direction=Message.Direction.OUTBOUND,
            status__in=OUT_PENDING,
        )
        .order_by("id")
        .values_list("pk", "connector_id", "ordering_key")[:limit]
    )
    blocked: set[tuple[int | None, str]] = set()
    sent = 0
    for pk, connector_id, key in due:
        queue = (connector_id, key)
        if queue in blocked:
            continue
        if (
            key
            and Message.objects.filter(
                direction=Message.Direction.OUTBOUND,
                connector_id=connector_id,
                ordering_key=key,
                status__in=OUT_PENDING,
                pk__lt=pk,
            ).exists()
        ):
            # An earlier message for this patient is still waiting: it goes first.
            blocked.add(queue)
            continue
        status = outbound_deliver(pk)
        if status == Message.Status.SENT:
            sent += 1
        elif key:
            blocked.add(queue)
    return sent


def outbox_relay() -> dict[str, int]:
    return {"fanned_out": outbox_fan_out(), "sent": outbound_deliver_due()}
