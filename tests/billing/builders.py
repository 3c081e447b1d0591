"""Billing test worlds: a booked visit with coverage, fees and a documented EHR note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing.documentation import EncounterDocumentation, ProcedureLine
from billing.models import DiagnosisProcedureRule, FeeSchedule, Payer, Plan
from integrations.models import Connector
from patients.models import Coverage, Patient
from scheduling.models import Appointment, AppointmentType, Location, Provider
from scheduling.validators import npi_with_check_digit
from tests import factories as f

FEES = {"D0150": "95.00", "D0210": "140.00", "D2391": "180.00", "D7240": "620.00", "D0140": "70"}


@dataclass
class Visit:
    location: Location
    provider: Provider
    patient: Patient
    payer: Payer
    plan: Plan
    coverage: Coverage
    appointment_type: AppointmentType
    appointment: Appointment


def payer(*, code: str | None = None, **kw) -> Payer:
    i = f.n()
    p = Payer.objects.create(name=f"Payer {i}", payer_code=code or f"SBX{i:04d}", **kw)
    FeeSchedule.objects.bulk_create(
        FeeSchedule(payer=p, procedure_code=c, amount=Decimal(v)) for c, v in FEES.items()
    )
    return p


def sandbox_for(payer, tmp_path) -> Connector:
    """The payer's own sandbox clearinghouse, its mailbox under ``tmp_path``."""
    return Connector.objects.create(
        name=f"Sandbox {payer.payer_code}",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.CLEARINGHOUSE,
        payer=payer,
        endpoint=str(tmp_path / payer.payer_code),
    )


def visit(*, start: datetime | None = None, the_payer: Payer | None = None) -> Visit:
    loc = f.location(npi=npi_with_check_digit(f"1{f.n():08d}"))
    prov = f.provider(locations=[loc])
    pat = f.patient()
    pay = the_payer or payer()
    pl = f.plan(payer=pay)
    cov = Coverage.objects.create(
        patient=pat,
        plan=pl,
        subscriber_first_name=pat.first_name,
        subscriber_last_name=pat.last_name,
        subscriber_dob=pat.date_of_birth,
        effective_from=date(2020, 1, 1),
        # The sandbox payer decides by member id; ACTIVE... is always covered, so tests
        # do not depend on which ids the database hands out.
        member_id=f"ACTIVE{f.n():07d}",
    )
    atype = f.appointment_type(typical_procedure_codes=["D0150"], typical_diagnosis_codes=["Z0120"])
    start = start or datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    s = f.slot(provider=prov, location=loc, start=start)
    appt = f.appointment(patient=pat, slot=s, appointment_type=atype)
    return Visit(loc, prov, pat, pay, pl, cov, atype, appt)


def documentation(v: Visit, **kw) -> EncounterDocumentation:
    """What a location EHR sends after the visit: signed an hour after the start."""
    fields = {
        "source_system": "TEST-EHR",
        "documented_at": v.appointment.start + timedelta(hours=1),
        "diagnoses": ("Z01.20", "K02.52"),
        "procedures": (
            ProcedureLine(code="D0150", diagnosis_pointers=(1,)),
            ProcedureLine(code="D2391", diagnosis_pointers=(2,), modifiers=()),
        ),
        "appointment_id": v.appointment.pk,
        "documentation_ref": "NOTE-1",
        "ehr_signed": True,
    }
    fields.update(kw)
    return EncounterDocumentation(**fields)


def default_rules() -> None:
    DiagnosisProcedureRule.objects.create(
        procedure_prefix="D2", diagnosis_prefixes=["K02", "K03"], description="restorative"
    )
    DiagnosisProcedureRule.objects.create(
        procedure_prefix="D7", diagnosis_prefixes=["K01", "K04", "K05", "K08"]
    )
