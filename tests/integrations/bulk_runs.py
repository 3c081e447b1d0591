"""Runs of PMS messages drained set-based and one by one, summarised for comparison:
the helpers of the batch booking and batch change tests."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction

from billing.models import EligibilityCheck, Encounter
from config.models import AuditEntry as LogEntry
from integrations import inbound
from integrations.ledger import inbound_store_batch
from integrations.models import Message, OutboxEvent
from patients.models import Patient, PatientIdentifier
from scheduling import services
from scheduling.models import Appointment, Hold, Slot
from tests import factories as f

from .hl7_samples import siu

START = (datetime.now(tz=UTC) + timedelta(days=3)).replace(
    hour=16, minute=0, second=0, microsecond=0
)


class _Rollback(Exception):
    pass


def _local(moment: datetime, location) -> str:
    return moment.astimezone(location.tz).strftime("%Y%m%d%H%M")


def world_build(pms):
    """A PMS location with ten units: one booked before the run, one held by an agent."""
    location = pms.location
    provider = f.provider(locations=[location])
    visit = f.appointment_type(code="exam")
    units = [
        f.slot(provider=provider, location=location, start=START + timedelta(minutes=30 * i))
        for i in range(10)
    ]
    known = f.patient(first_name="Kim", last_name="Known", date_of_birth=date(1970, 1, 1))
    PatientIdentifier.objects.create(patient=known, system="DEN-PMS", value="K", kind="MR")
    f.coverage(patient=known)
    f.appointment(patient=f.patient(), slot=units[8], appointment_type=visit)  # booked before
    agent = User.objects.create_user("holder")
    now = datetime.now(tz=UTC)
    Hold.objects.create(
        slot=units[5], held_by=agent, created_at=now, expires_at=now + timedelta(minutes=5)
    )
    return location, provider, units


def _messages(location, provider, units) -> list[str]:
    def book(cid, mrn, last, ext, first_unit, last_unit=None, npi=provider.npi):
        known = mrn == "K"
        return siu(
            cid,
            mrn=mrn,
            first="Kim" if known else "Pat",
            last=last,
            dob="19700101" if known else "19900101",
            external_id=ext,
            npi=npi,
            type_code="exam",
            start=_local(units[first_unit].start, location),
            end=_local(units[last_unit if last_unit is not None else first_unit].end, location),
        )

    return [
        book("B1", "N1", "One", "X1", 0, 1),  # an hour: units 0 and 1
        book("B2", "K", "Known", "X2", 2),  # a known patient with coverage
        book("B3", "N2", "Two", "X3", 1),  # unit 1 was just taken by B1
        book("B4", "N1", "One", "X1", 0, 1),  # B1 again under a new control id
        book("B5", "N3", "Three", "X5", 3, npi="1999999999"),  # unknown provider
        book("B6", "N4", "Four", "X6", 5),  # an agent holds unit 5: the front desk wins
        book("B7", "K", "Known", "X7", 6),  # coverage checked by B2 a moment ago
        book("B8", "N5", "Five", "X8", 8),  # unit 8 was booked before the run
        book("B9", "N3", "Three", "X9", 9),  # same patient as B5: the key carries on
    ]


VOLATILE = {"id", "patient", "created_at", "updated_at", "cancelled_at"}


def _summary(units, since: int) -> dict:
    """Everything the run changed, with ids that differ between runs left out."""
    entries = Counter()
    appointment_changes = []
    for entry in LogEntry.objects.filter(pk__gt=since).order_by("pk"):
        entries[(entry.content_type.model, entry.action)] += 1
        if entry.content_type.model == "appointment":
            appointment_changes.append(
                {k: v for k, v in entry.changes_dict.items() if k not in VOLATILE}
            )
    return {
        "messages": {
            m.control_id: (m.status, re.sub(r"#\d+", "#N", m.last_error))
            for m in Message.objects.filter(direction=Message.Direction.INBOUND)
        },
        "appointments": sorted(
            (
                a.external_id,
                a.patient.last_name,
                a.start,
                a.end,
                a.status,
                a.channel,
                tuple(sorted(link.slot.start for link in a.slot_links.filter(active=True))),
            )
            for a in Appointment.objects.filter(channel="location")
        ),
        "all appointments": sorted(
            (a.external_id, a.status, a.cancel_reason, a.slot_links.filter(active=True).count())
            for a in Appointment.objects.all()
        ),
        "patients": sorted(Patient.objects.values_list("last_name", flat=True)),
        "units": [Slot.objects.get(pk=u.pk).status for u in units],
        "holds released": [h.released_at is not None for h in Hold.objects.all()],
        "encounters": sorted(
            (
                e.appointment.external_id,
                e.date_of_service,
                e.status,
                e.encounter_number == f"E{e.appointment_id:09d}",
            )
            for e in Encounter.objects.select_related("appointment")
        ),
        "eligibility": sorted(
            (c.appointment.external_id, c.coverage.member_id, c.status)
            for c in EligibilityCheck.objects.select_related("appointment", "coverage")
        ),
        "outbox": sorted(
            (e.event_type, e.aggregate_type, e.location_id, str(e.payload))
            for e in OutboxEvent.objects.all()
        ),
        "audit": entries,
        "appointment audit": sorted(appointment_changes, key=str),
    }


def _run(
    world,
    monkeypatch,
    *,
    bulk: bool,
    messages: list[str] | None = None,
    service: str = "appointments_record_external_batch",
) -> tuple[dict, list[int]]:
    """Store and drain the run, summarise, and roll everything back."""
    location, provider, units = world
    calls: list[int] = []
    real = getattr(services, service)

    def spy(items):
        calls.append(len(items))
        return real(items)

    monkeypatch.setattr(services, service, spy)
    if not bulk:
        # The reference: one message per savepoint, in arrival order.
        monkeypatch.setattr(inbound, "_apply_bulk", lambda run, now, deferral=None: False)
        monkeypatch.setattr(inbound, "_in_waves", lambda rows: rows)
    summary: dict = {}
    try:
        with transaction.atomic():
            since = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            stored = inbound_store_batch(messages or _messages(location, provider, units))
            inbound.inbound_drain_keys(list(dict.fromkeys(s.ordering_key for s in stored)))
            summary = _summary(units, since)
            raise _Rollback()
    except _Rollback:
        pass
    monkeypatch.undo()
    return summary, calls
