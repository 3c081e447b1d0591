"""A small hand-made network whose every KPI was worked out by hand (see test_known_answers).

Current period: 2026-03-01 .. 2026-03-10 (10 UTC days); previous: 2026-02-19 .. 2026-02-28.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from billing.models import (
    Adjustment,
    Claim,
    ClaimFinding,
    EligibilityCheck,
    Encounter,
    Payer,
    Remittance,
    RemittanceClaim,
)
from integrations.models import Connector, Message, OutboxEvent
from scheduling.kpi.filters import KpiFilters
from scheduling.models import (
    Appointment,
    Call,
    Hold,
    Hub,
    HubCall,
    RecallOutreach,
    RecallRule,
    Referral,
    Waitlist,
    WaitlistOffer,
)
from tests import factories as fx

PERIOD = KpiFilters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 10))


def at(month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Net:
    objs: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.objs[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def _appt(
    *, patient, provider, location, appointment_type, created, start, status="completed", **kw
) -> Appointment:
    return Appointment.objects.create(
        patient=patient,
        provider=provider,
        location=location,
        appointment_type=appointment_type,
        start=start,
        end=start + timedelta(minutes=30),
        status=status,
        created_at=created,
        updated_at=created,
        **kw,
    )


def _call(agent, patient, reason, started, seconds=None, outcome="info_only") -> Call:
    return Call.objects.create(
        agent=agent,
        patient=patient,
        reason=reason,
        started_at=started,
        ended_at=started + timedelta(seconds=seconds) if seconds is not None else None,
        outcome=outcome if seconds is not None else "",
    )


def _message(connector, direction, status, received, lag_seconds=None, n=[0]) -> Message:  # noqa: B006
    n[0] += 1
    return Message.objects.create(
        connector=connector,
        direction=direction,
        protocol="hl7v2",
        message_type="SIU^S12",
        sender=f"SENDER{connector.pk}",
        control_id=f"CTL{n[0]}",
        raw="MSH|...",
        sha256=Message.hash_raw(f"raw{n[0]}"),
        status=status,
        received_at=received,
        processed_at=received + timedelta(seconds=lag_seconds) if lag_seconds is not None else None,
    )


@pytest.fixture
def kpi_net(db, agent, other_agent) -> Net:
    r1, r2 = fx.region(), fx.region()
    l1 = fx.location(region=r1, name="Aurora")
    l2 = fx.location(region=r1, name="Boulder")
    l3 = fx.location(region=r2, name="Chandler")
    p1 = fx.provider(locations=[l1], languages=["en"], last_name="Adams")
    p2 = fx.provider(locations=[l2], languages=["en", "es"], min_patient_age=18, last_name="Baker")
    p3 = fx.provider(locations=[l3], languages=[], max_patient_age=17, last_name="Chen")
    t1 = fx.appointment_type(name="Cleaning")
    t2 = fx.appointment_type(name="Implant consult", capabilities=["implants"])
    pa = fx.patient(date_of_birth=date(1985, 4, 12), preferred_language="en", home_location=l1)
    pb = fx.patient(date_of_birth=date(1990, 1, 1), preferred_language="es", home_location=l2)
    pc = fx.patient(date_of_birth=date(2020, 6, 1), preferred_language="en", home_location=l3)

    # --- calls
    c1 = _call(agent, pa, "new_problem", at(3, 2, 10), 300, "booked")
    c2 = _call(agent, pa, "new_problem", at(3, 5, 10), 100)  # callback for c1
    _call(other_agent, pb, "follow_up", at(3, 3, 9), 200, "booked")
    _call(other_agent, pb, "recall", at(3, 4, 9), 400)
    _call(agent, None, "", at(3, 6, 9), 600)  # no patient: not in FCR
    _call(agent, pc, "urgent", at(3, 9, 9))  # still open: not in FCR, not in AHT
    _call(agent, pa, "recall", at(2, 20, 12), 120)
    _call(agent, pa, "recall", at(2, 27, 12), 240)  # exactly 7 days later: a callback

    # --- appointments created in the period (a5 is the new half of a4's reschedule)
    common = {"appointment_type": t1}
    a1 = _appt(
        patient=pa,
        provider=p1,
        location=l1,
        created=at(3, 2, 10, 5),
        start=at(3, 12, 15),
        booked_by=agent,
        call=c1,
        **common,
    )
    a2 = _appt(
        patient=pb,
        provider=p2,
        location=l2,
        created=at(3, 3, 9, 5),
        start=at(3, 4, 15),
        channel="api",
        status="no_show",
        **common,
    )
    a3 = _appt(
        patient=pc,
        provider=p2,
        location=l2,
        created=at(3, 4),
        start=at(3, 6, 16),
        channel="self",
        status="cancelled",
        cancel_reason="wrong_provider",
        cancelled_at=at(3, 5),
        **common,
    )
    a4 = _appt(
        patient=pb,
        provider=p1,
        location=l1,
        created=at(3, 5),
        start=at(3, 8),
        booked_by=other_agent,
        status="rescheduled",
        cancel_reason="patient_request",
        cancelled_at=at(3, 6),
        **common,
    )
    a5 = _appt(
        patient=pb,
        provider=p2,
        location=l2,
        created=at(3, 6),
        start=at(3, 9),
        booked_by=other_agent,
        rescheduled_from=a4,
        # A deliberate double-booking (the overbookings drill-down needs a row).
        overbooked=True,
        overbook_reason="Fitted in for pain",
        **common,
    )
    a6 = _appt(
        patient=pc,
        provider=p3,
        location=l3,
        created=at(3, 7),
        start=at(3, 20),
        channel="location",
        status="booked",
        **common,
    )
    a7 = _appt(
        patient=pa,
        provider=p1,
        location=l1,
        created=at(3, 8),
        start=at(4, 1),
        channel="fhir",
        status="cancelled",
        cancel_reason="wrong_location",
        cancelled_at=at(3, 30),
        **common,
    )
    # previous period
    _appt(
        patient=pa,
        provider=p1,
        location=l1,
        created=at(2, 20),
        start=at(2, 25),
        booked_by=agent,
        **common,
    )
    _appt(
        patient=pb,
        provider=p1,
        location=l1,
        created=at(2, 21),
        start=at(2, 26),
        channel="api",
        status="cancelled",
        cancel_reason="wrong_location",
        cancelled_at=at(2, 22),
        **common,
    )

    # --- slots (blocked ones never count) and holds
    s1 = fx.slot(provider=p1, location=l1, start=at(3, 2, 9), status="booked")
    s2 = fx.slot(provider=p1, location=l1, start=at(3, 2, 10))
    fx.slot(provider=p1, location=l1, start=at(3, 3, 9), status="blocked")
    fx.slot(provider=p2, location=l2, start=at(3, 4, 9), status="booked")
    s5 = fx.slot(provider=p2, location=l2, start=at(3, 5, 9))
    s6 = fx.slot(provider=p2, location=l2, start=at(3, 6, 9), status="booked")
    fx.slot(provider=p1, location=l1, start=at(2, 25, 9), status="booked")

    def hold(slot, created, **kw) -> Hold:
        return Hold.objects.create(
            slot=slot,
            held_by=agent,
            created_at=created,
            expires_at=kw.pop("expires_at", created + timedelta(minutes=3)),
            **kw,
        )

    hold(s1, at(3, 2, 10, 3), consumed_at=at(3, 2, 10, 5))
    hold(s2, at(3, 3), released_at=at(3, 3, 12, 1))
    hold(s5, at(3, 4))  # expired unused
    hold(s6, at(3, 10, 23, 59), expires_at=datetime(2099, 1, 1, tzinfo=UTC))  # still live

    # --- waitlist
    def wait(created, status) -> Waitlist:
        w = Waitlist.objects.create(
            patient=pa,
            appointment_type=t1,
            earliest=date(2026, 3, 1),
            latest=date(2026, 4, 1),
            status=status,
            created_by=agent,
            created_at=created,
        )
        w.locations.set([l1])
        return w

    wait(at(3, 2), "booked")
    w_open = wait(at(3, 3), "open")
    wait(at(3, 4), "closed")
    wait(at(2, 25), "booked")

    # --- hubs: one routed call, answered after 12 s
    hub = Hub.objects.create(name="Front Range hub")
    HubCall.objects.create(
        sid="CAkpi1",
        hub=hub,
        state="ended",
        agent=agent,
        offered_at=at(3, 3, 9),
        answered_at=at(3, 3, 9, 0, 12),
        ended_at=at(3, 3, 9, 5),
    )

    # --- revenue
    payer_x = Payer.objects.create(name="Xylo Dental", payer_code="XYLO1")
    payer_y = Payer.objects.create(name="Yarrow Health", payer_code="YARR1")
    cov_a = fx.coverage(patient=pa, plan=fx.plan(payer=payer_x))
    cov_b = fx.coverage(patient=pb, plan=fx.plan(payer=payer_y))
    for status, when, appt in [
        ("active", at(3, 2), a1),
        ("inactive", at(3, 3), a2),
        ("error", at(3, 4), None),
        ("pending", at(3, 5), None),
        ("active", at(2, 25), None),
    ]:
        EligibilityCheck.objects.create(
            coverage=cov_b if appt is a2 else cov_a,
            appointment=appt,
            requested_at=when,
            responded_at=None if status == "pending" else when,
            status=status,
        )

    def claim(
        number, *, dos, location, payer, cov, created, status, adjudicated=None, charge="100"
    ):
        enc = Encounter.objects.create(
            encounter_number=f"E-{number}",
            patient=cov.patient,
            provider=p1,
            location=location,
            date_of_service=dos,
            created_at=created,
        )
        return Claim.objects.create(
            claim_number=number,
            encounter=enc,
            coverage=cov,
            payer=payer,
            status=status,
            total_charge=Decimal(charge),
            created_at=created,
            adjudicated_at=adjudicated,
            paid_amount=Decimal(charge) if status == "paid" else Decimal("0"),
        )

    claim(
        "K1",
        dos=date(2026, 3, 1),
        location=l1,
        payer=payer_x,
        cov=cov_a,
        created=at(3, 3),
        status="paid",
        adjudicated=at(3, 8),
    )
    k2 = claim(
        "K2",
        dos=date(2026, 3, 2),
        location=l2,
        payer=payer_y,
        cov=cov_b,
        created=at(3, 6),
        status="denied",
        adjudicated=at(3, 9),
    )
    k3 = claim(
        "K3",
        dos=date(2026, 3, 4),
        location=l1,
        payer=payer_x,
        cov=cov_a,
        created=at(3, 7),
        status="submitted",
    )
    claim(
        "K0",
        dos=date(2026, 2, 19),
        location=l1,
        payer=payer_x,
        cov=cov_a,
        created=at(2, 20),
        status="paid",
        adjudicated=at(2, 25),
    )
    # K4: sent back with CLP02 = 1 but every line denied (CO-97 on each line), so billing set
    # the claim denied. K5: denied with no 835 CAS at all -> "unknown reason".
    k4 = claim(
        "K4",
        dos=date(2026, 3, 2),
        location=l1,
        payer=payer_x,
        cov=cov_a,
        created=at(3, 4),
        status="denied",
        adjudicated=at(3, 8),
    )
    claim(
        "K5",
        dos=date(2026, 3, 3),
        location=l2,
        payer=payer_y,
        cov=cov_b,
        created=at(3, 5),
        status="denied",
        adjudicated=at(3, 9),
    )
    ClaimFinding.objects.create(
        claim=k3, code="NO_DOC", message="Documentation missing", created_at=at(3, 7)
    )
    remit = Remittance.objects.create(
        payer=payer_y,
        trace_number="T1",
        content_hash="h1",
        total_paid=Decimal("0"),
        received_at=at(3, 9),
    )
    clp = RemittanceClaim.objects.create(
        remittance=remit,
        claim=k2,
        clp01="K2",
        status_code="4",
        charge=Decimal("100"),
        paid=Decimal("0"),
    )
    Adjustment.objects.create(
        remittance_claim=clp, group_code="CO", reason_code="197", amount=Decimal("100")
    )

    remit_x = Remittance.objects.create(
        payer=payer_x,
        trace_number="T2",
        content_hash="h2",
        total_paid=Decimal("0"),
        received_at=at(3, 8),
    )
    clp4 = RemittanceClaim.objects.create(
        remittance=remit_x,
        claim=k4,
        clp01="K4",
        status_code="1",
        charge=Decimal("100"),
        paid=Decimal("0"),
    )
    for code, amount in (("D1110", "60"), ("D0120", "40")):
        Adjustment.objects.create(
            remittance_claim=clp4,
            procedure_code=code,
            group_code="CO",
            reason_code="97",
            amount=Decimal(amount),
        )

    # --- integrations
    ca = Connector.objects.create(
        name="Aurora PMS", kind="hl7v2_mllp", role="location_pms", location=l1
    )
    cb = Connector.objects.create(
        name="Boulder EHR", kind="fhir_r4", role="location_ehr", location=l2
    )
    _message(ca, "in", "processed", at(3, 2, 10), 2)
    _message(ca, "in", "processed", at(3, 2, 11), 4)
    _message(ca, "in", "failed", at(3, 2, 12))
    _message(ca, "in", "rejected", at(3, 2, 13))
    _message(cb, "out", "sent", at(3, 3, 10), 10)
    _message(cb, "out", "dead", at(3, 3, 11))
    _message(cb, "in", "received", at(3, 3, 12))
    _message(ca, "in", "processed", at(2, 25, 10), 1)
    OutboxEvent.objects.create(
        event_type="appointment.booked",
        aggregate_type="appointment",
        aggregate_id=a1.pk,
        location=l1,
        status="dead",
        attempts=8,
        created_at=at(3, 4),
        next_attempt_at=at(3, 4),
    )
    OutboxEvent.objects.create(
        event_type="appointment.booked",
        aggregate_type="appointment",
        aggregate_id=a2.pk,
        location=l2,
        status="delivered",
        created_at=at(3, 4),
        next_attempt_at=at(3, 4),
        delivered_at=at(3, 4, 12, 0, 30),
    )
    # --- engagement: freed time offered by text, and a patient's "C" to a reminder
    WaitlistOffer.objects.create(
        entry=w_open, slot=s2, created_at=at(3, 3, 12), expires_at=at(3, 3, 13)
    )
    Appointment.objects.filter(pk=a1.pk).update(confirmed_at=at(3, 3, 8))
    # --- recall: one patient contacted for their six-monthly cleaning
    recall_rule = RecallRule.objects.create(appointment_type=t1)
    RecallOutreach.objects.create(
        rule=recall_rule,
        patient=pa,
        location=l1,
        last_visit=date(2025, 9, 1),
        contacted_at=at(3, 5),
    )
    # --- a referral answered by a2 (booked on 3 March) and one still waiting
    ref_booked = Referral.objects.create(
        patient=pb,
        appointment_type=t1,
        source="form",
        priority="urgent",
        received_at=at(3, 1),
        status="booked",
        appointment=a2,
        booked_at=at(3, 3),
    )
    ref_open = Referral.objects.create(
        patient=pc, appointment_type=t2, source="fhir", received_at=at(3, 6)
    )
    return Net(dict(locals()))
