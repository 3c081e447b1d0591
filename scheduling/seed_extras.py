"""Demo data for scheduling beyond the network: one RuleSetting row per rule, so admins
see every rule with its defaults and can switch it off or reweigh it; and the need rules
that turn EHR codes into what routing enforces."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from patients.clinical import clinical_need_rule_apply
from patients.models import ClinicalNeedRule

from .models import Equipment, RuleSetting
from .rules.registry import RULES


def rule_settings_ensure() -> int:
    """Create missing RuleSetting rows with the registry's defaults; never overwrite."""
    created = 0
    for rule in RULES:
        _, was_created = RuleSetting.objects.get_or_create(
            key=rule.key,
            defaults={
                "enabled": True,
                "weight": rule.default_weight,
                "params": dict(rule.default_params),
                "description": f"{rule.kind.value}: {rule.description}"[:200],
            },
        )
        created += was_created
    return created


SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# (system, code, description, equipment code, alert). The demo network has no latex-free
# rooms, so latex allergy is an alert here; a group that has them maps it to the room.
NEED_RULES = [
    (ICD10CM, "Z99.3", "Dependence on wheelchair", "wheelchair-op", ""),
    ("", "Z993", "Dependence on wheelchair", "wheelchair-op", ""),
    (SNOMED, "105503008", "Dependence on wheelchair", "wheelchair-op", ""),
    ("", "WHEELCHAIR", "Uses a wheelchair (HL7 observation)", "wheelchair-op", ""),
    ("", "F4022", "Dental anxiety: treatment under sedation", "iv-sedation", ""),
    (SNOMED, "300916003", "Latex allergy", None, "Latex allergy: latex-free gloves and dam"),
    ("", "Z9104", "Latex allergy", None, "Latex allergy: latex-free gloves and dam"),
    ("", "LATEX", "Latex allergy (HL7 allergen)", None, "Latex allergy: latex-free gloves and dam"),
    (
        "",
        "Z952",
        "Presence of prosthetic heart valve",
        None,
        "Antibiotic premedication before invasive dental treatment",
    ),
]


def need_rules_ensure() -> int:
    """Create the demo's need rules (never overwriting an admin's) and apply each to the
    facts already on file."""
    equipment = {e.code: e for e in Equipment.objects.all()}
    created = 0
    for system, code, description, needs, alert in NEED_RULES:
        if needs and needs not in equipment:
            continue
        rule, was_created = ClinicalNeedRule.objects.get_or_create(
            code_system=system,
            code=code,
            defaults={
                "description": description,
                "requires_equipment": equipment.get(needs) if needs else None,
                "provider_alert": alert,
            },
        )
        if was_created:
            clinical_need_rule_apply(rule=rule)
            created += 1
    return created


# The demo group's reminder steps: email a week ahead, texts two days and two hours ahead.
DEMO_CADENCES = (("email", 168), ("sms", 48), ("sms", 2))
# Routine visits patients may book themselves on /book/.
DEMO_SELF_SERVICE = ("periodic-cleaning", "emergency-exam")


def engagement_ensure() -> str:
    from .models import AppointmentType, RecallRule, ReminderCadence

    for channel, hours in DEMO_CADENCES:
        ReminderCadence.objects.get_or_create(
            appointment_type=None, location=None, channel=channel, hours_before=hours
        )
    types = AppointmentType.objects.filter(code__in=DEMO_SELF_SERVICE).update(self_service=True)
    # Six-monthly recall for the periodic cleaning, paced at 25 contacts per location a day.
    recall_type = AppointmentType.objects.filter(code=DEMO_SELF_SERVICE[0]).first()
    if recall_type is not None:
        RecallRule.objects.get_or_create(appointment_type=recall_type)
    return f"{len(DEMO_CADENCES)} reminder steps, {types} visit types bookable online"


# Licenses beyond the states a provider practises in: the demo's telehealth shows both a
# neighbour-state patient served and a farther one refused with the licensure reason.
NEIGHBOUR_STATES = {
    "CO": ("UT", "NM"),
    "AZ": ("NM", "UT"),
    "TX": ("OK", "NM"),
    "UT": ("CO", "ID"),
    "WA": ("OR", "ID"),
}
VIDEO_VISIT = ("video-consult", "Video consult", 30, "general", ["D0140"], ["Z0120"])


def telehealth_ensure(today: date) -> str:
    """A telehealth visit type, and licenses for every provider: each state they serve in,
    plus one neighbour, valid two years."""
    from .models import AppointmentType, Capability, Provider, ProviderLicense

    code, name, minutes, capability, procedures, diagnoses = VIDEO_VISIT
    visit, _ = AppointmentType.objects.get_or_create(
        code=code,
        defaults={
            "name": name,
            "duration_minutes": minutes,
            "telehealth": True,
            "typical_procedure_codes": procedures,
            "typical_diagnosis_codes": diagnoses,
        },
    )
    visit.required_capabilities.set(Capability.objects.filter(code=capability))
    licenses = []
    for provider in Provider.objects.prefetch_related("locations"):
        states = sorted({loc.state for loc in provider.locations.all() if loc.state})
        neighbours = [n for s in states for n in NEIGHBOUR_STATES.get(s, ())]
        if neighbours:
            states.append(neighbours[provider.pk % len(neighbours)])
        licenses += [
            ProviderLicense(
                provider=provider,
                state=state,
                number=f"{state}-{provider.npi[-6:]}",
                valid_until=today + timedelta(days=730),
            )
            for state in dict.fromkeys(states)
        ]
    ProviderLicense.objects.bulk_create(licenses, ignore_conflicts=True)
    return f"{len(licenses)} provider licenses"


# Visits that need a dentist and a hygienist together (and, for surgery, the sedation
# cart the first region's locations share): (code, name, minutes, lead capability,
# mobile equipment, procedure codes).
TWO_RESOURCE_TYPES = (
    (
        "exam-with-cleaning",
        "Comprehensive exam with cleaning",
        60,
        "general",
        "",
        ["D0150", "D1110"],
    ),
    ("perio-surgery", "Periodontal surgery", 90, "periodontics", "sedation-cart", ["D4260"]),
)
ASSISTANT_CAPABILITY = "hygiene"
MOBILE_EQUIPMENT = ("sedation-cart", "Portable sedation cart")


def multi_resource_ensure() -> str:
    """The demo's two-resource visit types and the shared sedation cart (never
    overwriting an admin's). Hygienists and their templates come with the network."""
    from .models import AppointmentType, Capability, Location, MobileEquipment, Region

    hygiene = Capability.objects.filter(code=ASSISTANT_CAPABILITY).first()
    if hygiene is None:
        return "no hygienists in this network"
    cart, _ = MobileEquipment.objects.get_or_create(
        code=MOBILE_EQUIPMENT[0], defaults={"name": MOBILE_EQUIPMENT[1]}
    )
    region = Region.objects.order_by("pk").first()
    # A cart that serves nowhere (new, or its locations went with a --reset) gets the
    # first region's; an admin's choice of locations is kept.
    if region is not None and not cart.serves.exists():
        cart.serves.set(Location.objects.filter(region=region, active=True))
    created = 0
    for code, name, minutes, lead, mobile, procedures in TWO_RESOURCE_TYPES:
        capability = Capability.objects.filter(code=lead).first()
        if capability is None:
            continue
        visit, was_created = AppointmentType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "duration_minutes": minutes,
                "assistant_capability": hygiene,
                "mobile_equipment": cart if mobile else None,
                "typical_procedure_codes": procedures,
            },
        )
        if was_created:
            visit.required_capabilities.set([capability])
            created += 1
    return f"{created} two-resource visit types, {cart.serves.count()} locations share the cart"


def seed(context: Any) -> str:
    from .demo.hubs import build_hubs

    hubs = build_hubs(list(context.net.regions))
    return (
        f"{rule_settings_ensure()} rule settings, {need_rules_ensure()} clinical need rules, "
        f"{hubs} hubs; {engagement_ensure()}; {telehealth_ensure(context.today)}; "
        f"{multi_resource_ensure()}"
    )
