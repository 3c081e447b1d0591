"""Small, explicit builders for test data. Each returns saved rows with sane defaults."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from billing.models import NetworkParticipation, Payer, Plan
from patients.models import Coverage, Patient
from scheduling.models import (
    Appointment,
    AppointmentSlot,
    AppointmentType,
    Capability,
    Equipment,
    Location,
    Provider,
    Region,
    ScheduleTemplate,
    Slot,
)
from scheduling.validators import npi_with_check_digit

_seq = itertools.count(1)


def n() -> int:
    return next(_seq)


def region(**kw) -> Region:
    i = n()
    return Region.objects.create(**{"code": f"r{i}", "name": f"Region {i}", **kw})


def location(*, time_zone: str = "America/Denver", equipment: list[str] = (), **kw) -> Location:
    i = n()
    loc = Location.objects.create(
        **{
            "region": kw.pop("region", None) or region(),
            "code": f"loc{i}",
            "name": f"Location {i}",
            "time_zone": time_zone,
            "zip_code": "80202",
            "latitude": 39.7491,
            "longitude": -104.9946,
            **kw,
        }
    )
    for code in equipment:
        loc.equipment.add(
            Equipment.objects.get_or_create(code=code, defaults={"name": code.upper()})[0]
        )
    return loc


def provider(
    *, capabilities: list[str] = ("general",), locations: list[Location] = (), **kw
) -> Provider:
    i = n()
    prov = Provider.objects.create(
        **{
            "npi": npi_with_check_digit(f"1{i:08d}"),
            "first_name": "Pat",
            "last_name": f"Provider{i}",
            "credential": "DDS",
            **kw,
        }
    )
    for code in capabilities:
        prov.capabilities.add(
            Capability.objects.get_or_create(code=code, defaults={"name": code.title()})[0]
        )
    prov.locations.set(locations)
    return prov


def appointment_type(
    *, capabilities: list[str] = ("general",), equipment: list[str] = (), **kw
) -> AppointmentType:
    i = n()
    t = AppointmentType.objects.create(
        **{"code": f"type{i}", "name": f"Visit type {i}", "duration_minutes": 30, **kw}
    )
    for code in capabilities:
        t.required_capabilities.add(
            Capability.objects.get_or_create(code=code, defaults={"name": code.title()})[0]
        )
    for code in equipment:
        t.required_equipment.add(
            Equipment.objects.get_or_create(code=code, defaults={"name": code.upper()})[0]
        )
    return t


def template(
    *,
    provider: Provider,
    location: Location,
    weekday: int,
    start: time = time(8),
    end: time = time(12),
    **kw,
) -> ScheduleTemplate:
    return ScheduleTemplate.objects.create(
        provider=provider, location=location, weekday=weekday, start_time=start, end_time=end, **kw
    )


def slot(
    *, provider: Provider, location: Location, start: datetime, minutes: int = 30, **kw
) -> Slot:
    return Slot.objects.create(
        provider=provider,
        location=location,
        start=start,
        end=start + timedelta(minutes=minutes),
        **kw,
    )


def patient(**kw) -> Patient:
    i = n()
    return Patient.objects.create(
        **{
            "first_name": "Jamie",
            "last_name": f"Doe{i}",
            "date_of_birth": date(1985, 4, 12),
            "phone": f"303555{i:04d}",
            "zip_code": "80202",
            **kw,
        }
    )


def plan(**kw) -> Plan:
    i = n()
    payer = kw.pop("payer", None) or Payer.objects.create(name=f"Payer {i}", payer_code=f"P{i:05d}")
    return Plan.objects.create(
        **{"payer": payer, "code": f"plan-{i}", "name": f"Plan {i}", "kind": "PPO", **kw}
    )


def coverage(*, patient: Patient, plan: Plan | None = None, **kw) -> Coverage:
    return Coverage.objects.create(
        patient=patient, plan=plan or globals()["plan"](), member_id=f"M{n():08d}", **kw
    )


def in_network(
    *, plan: Plan, location: Location | None = None, provider: Provider | None = None
) -> NetworkParticipation:
    return NetworkParticipation.objects.create(plan=plan, location=location, provider=provider)


def appointment(
    *, patient: Patient, slot: Slot, appointment_type: AppointmentType, **kw
) -> Appointment:
    now = timezone.now()
    appt = Appointment.objects.create(
        patient=patient,
        provider=slot.provider,
        location=slot.location,
        appointment_type=appointment_type,
        start=slot.start,
        end=slot.end,
        created_at=now,
        updated_at=now,
        **kw,
    )
    AppointmentSlot.objects.create(appointment=appt, slot=slot)
    Slot.objects.filter(pk=slot.pk).update(status=Slot.Status.BOOKED)
    return appt


# console
def agent_profile(*, user, home_region: Region | None = None):
    from scheduling.models import AgentProfile

    return AgentProfile.objects.update_or_create(user=user, defaults={"home_region": home_region})[
        0
    ]


def console_network(*, days_ahead: int = 3) -> dict:
    """A small network where only one location has the CBCT scanner an implant consult needs.

    Two locations in one region (Cherry Creek has the scanner, Lakewood does not), one
    dentist working at both, three free morning slots at each on the same local day,
    and an implant consult type requiring the scanner and the implants capability.
    """
    from zoneinfo import ZoneInfo

    front_range = region(name="Front Range", code="front-range")
    cherry = location(
        name="Cherry Creek Dental", region=front_range, equipment=["cbct"], code="cherry-creek"
    )
    Equipment.objects.filter(code="cbct").update(name="CBCT scanner")
    lakewood = location(name="Lakewood Dental", region=front_range, code="lakewood")
    dentist = provider(
        first_name="Lee",
        last_name="Park",
        capabilities=["general", "implants"],
        locations=[cherry, lakewood],
    )
    consult = appointment_type(
        name="Implant consult",
        code="implant-consult",
        capabilities=["implants"],
        equipment=["cbct"],
        duration_minutes=30,
    )
    cleaning = appointment_type(name="Cleaning", code="cleaning", duration_minutes=30)
    day = (timezone.now() + timedelta(days=days_ahead)).astimezone(ZoneInfo("America/Denver"))
    slots = {}
    for loc, hour in ((cherry, 9), (lakewood, 14)):
        slots[loc.code] = [
            slot(
                provider=dentist,
                location=loc,
                start=datetime.combine(day.date(), time(hour), tzinfo=ZoneInfo("America/Denver"))
                + timedelta(minutes=30 * i),
            )
            for i in range(3)
        ]
    return {
        "region": front_range,
        "cherry": cherry,
        "lakewood": lakewood,
        "dentist": dentist,
        "consult": consult,
        "cleaning": cleaning,
        "slots": slots,
    }
