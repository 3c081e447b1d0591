"""Domain signals turned into outbox rows (the domain never imports integrations).

Every receiver runs inside the domain service's transaction and writes there, so an
outbox row exists if and only if the change it announces commits (the transactional
outbox); ``outbox_enqueue`` refuses to run outside a transaction. A batch signal is
answered with ONE ``outbox_enqueue_many``, in the batch's order, which is the order the
relay delivers in.
"""

from __future__ import annotations

from typing import Any

from patients.signals import (
    patient_created,
    patient_merged,
    patient_unmerged,
    patient_updated,
    patients_upserted,
)
from scheduling.signals import (
    appointment_changed,
    appointments_booked,
    appointments_changed,
    patient_messages_queued,
)

from .outbox import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    APPOINTMENT_MODIFIED,
    APPOINTMENT_NO_SHOW,
    APPOINTMENT_RESCHEDULED,
    PATIENT_CREATED,
    PATIENT_MESSAGE_SEND,
    PATIENT_UPDATED,
    Outgoing,
    outbox_enqueue,
    outbox_enqueue_many,
)

# Scheduling's lifecycle events as the relay knows them. Arrival and completion reach the
# location's system as a modification (SIU^S14 with the new status).
APPOINTMENT_EVENTS = {
    "booked": APPOINTMENT_BOOKED,
    "rescheduled": APPOINTMENT_RESCHEDULED,
    "cancelled": APPOINTMENT_CANCELLED,
    "no_show": APPOINTMENT_NO_SHOW,
    "modified": APPOINTMENT_MODIFIED,
    "arrived": APPOINTMENT_MODIFIED,
    "completed": APPOINTMENT_MODIFIED,
}
PATIENT_EVENTS = {"created": PATIENT_CREATED, "updated": PATIENT_UPDATED}


def _origin(origin_connector_id: int | None) -> dict[str, Any]:
    # The relay skips the connector a change came from, so it is not echoed back.
    return {"origin_connector_id": origin_connector_id} if origin_connector_id else {}


def outbox_on_appointment_changed(
    sender: Any,
    appointment: Any,
    event: str,
    previous: Any = None,
    origin_connector_id: int | None = None,
    **_: Any,
) -> None:
    payload = _origin(origin_connector_id)
    if event == "rescheduled" and previous is not None:
        # Lets the location's system retire the old booking it knows.
        payload = {"previous_id": previous.pk, **payload}
    outbox_enqueue(
        event_type=APPOINTMENT_EVENTS[event],
        aggregate_type="appointment",
        aggregate_id=appointment.pk,
        location_id=appointment.location_id,
        payload=payload,
    )


def outbox_on_appointments_booked(
    sender: Any, appointments: list[Any], origin_connector_ids: list[int | None], **_: Any
) -> None:
    outbox_enqueue_many(
        [
            Outgoing(APPOINTMENT_BOOKED, "appointment", a.pk, a.location_id, _origin(origin))
            for a, origin in zip(appointments, origin_connector_ids, strict=True)
        ]
    )


def outbox_on_appointments_changed(
    sender: Any, changes: list[tuple[Any, str, int | None]], **_: Any
) -> None:
    outbox_enqueue_many(
        [
            Outgoing(APPOINTMENT_EVENTS[event], "appointment", a.pk, a.location_id, _origin(origin))
            for a, event, origin in changes
        ]
    )


def outbox_on_patient_saved(
    sender: Any,
    signal: Any,
    patient: Any,
    location_id: int | None,
    origin_connector_id: int | None = None,
    **_: Any,
) -> None:
    """One receiver for patient_created and patient_updated: only the event differs."""
    outbox_enqueue(
        event_type=PATIENT_CREATED if signal is patient_created else PATIENT_UPDATED,
        aggregate_type="patient",
        aggregate_id=patient.pk,
        location_id=location_id,
        payload=_origin(origin_connector_id),
    )


def outbox_on_patients_upserted(
    sender: Any, changes: list[tuple[str, Any, int | None, int | None]], **_: Any
) -> None:
    outbox_enqueue_many(
        [
            Outgoing(PATIENT_EVENTS[event], "patient", patient.pk, location_id, _origin(origin))
            for event, patient, location_id, origin in changes
        ]
    )


def outbox_on_patient_merged(
    sender: Any,
    survivor_id: int,
    merged_id: int,
    location_id: int | None,
    origin_connector_id: int | None = None,
    **_: Any,
) -> None:
    outbox_enqueue(
        event_type=PATIENT_UPDATED,
        aggregate_type="patient",
        aggregate_id=survivor_id,
        location_id=location_id,
        payload={"merged_id": merged_id, **_origin(origin_connector_id)},
    )


def outbox_on_patient_unmerged(
    sender: Any, survivor_id: int, merged_id: int, merge_id: int, location_id: int | None, **_: Any
) -> None:
    # Both records changed: the survivor lost rows, the revived one has them back.
    for pk in (survivor_id, merged_id):
        outbox_enqueue(
            event_type=PATIENT_UPDATED,
            aggregate_type="patient",
            aggregate_id=pk,
            location_id=location_id,
            payload={"unmerged": merge_id},
        )


def outbox_on_patient_messages_queued(sender: Any, messages: list[Any], **_: Any) -> None:
    outbox_enqueue_many(
        [
            Outgoing(
                PATIENT_MESSAGE_SEND,
                "patient_message",
                m.pk,
                m.location_id,
                {"channel": m.channel},
            )
            for m in messages
        ]
    )


def receivers_connect() -> None:
    """Called from ``IntegrationsConfig.ready``. Each one-row signal's receiver has a
    batch twin, so the domain's batch paths stay enabled (``bulk_receivers_ready``)."""
    for signal, receiver, uid in (
        (appointment_changed, outbox_on_appointment_changed, "appointment_changed"),
        (appointments_booked, outbox_on_appointments_booked, "appointments_booked"),
        (appointments_changed, outbox_on_appointments_changed, "appointments_changed"),
        (patient_created, outbox_on_patient_saved, "patient_created"),
        (patient_updated, outbox_on_patient_saved, "patient_updated"),
        (patients_upserted, outbox_on_patients_upserted, "patients_upserted"),
        (patient_merged, outbox_on_patient_merged, "patient_merged"),
        (patient_unmerged, outbox_on_patient_unmerged, "patient_unmerged"),
        (patient_messages_queued, outbox_on_patient_messages_queued, "patient_messages_queued"),
    ):
        signal.connect(receiver, dispatch_uid=f"integrations.outbox_on_{uid}")
