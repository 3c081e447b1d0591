"""The demo's own catalog must pass the scrubber's code checks: only the seeded mistakes
are held, never a visit type whose typical codes are themselves wrong."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from billing.icd10 import icd10_exists
from billing.models import FeeSchedule, Payer
from billing.rules import DEFAULT_RULES
from billing.scrubber.rules import (
    ClaimContext,
    LineContext,
    ScrubSettings,
    rule_charges_point_to_diagnoses,
    rule_diagnosis_procedure_pairs,
    rule_icd10_billable,
)
from scheduling.demo import catalog
from scheduling.demo.network import build_network

DAY = date(2026, 11, 2)
SETTINGS = ScrubSettings(
    documentation_threshold=Decimal("500"),
    documentation_lag_days=3,
    rules=tuple((p, tuple(dx), why) for p, dx, why in DEFAULT_RULES),
)
# (visit type, procedure codes, diagnosis codes), plus the seed's fallback for a type
# without typical codes (billing/seed_extras.py).
VISIT_CODES = [(t[0], t[6], t[7]) for t in catalog.APPOINTMENT_TYPES] + [
    ("fallback", ["D0140"], ["K0889"])
]


def _context(procedures: list[str], diagnoses: list[str]) -> ClaimContext:
    # As the sandbox EHR documents a demo visit: every line points at diagnosis 1.
    return ClaimContext(
        claim_id=1,
        diagnoses=tuple(diagnoses),
        lines=tuple(
            LineContext(n, code, Decimal("100"), (1,), DAY)
            for n, code in enumerate(procedures, start=1)
        ),
        date_of_service=DAY,
        documented_on=DAY,
        documentation_ref="NOTE-1",
        provider_npi="1234567893",
        billing_npi="1234567893",
        member_id="ACTIVE0001",
        subscriber_last_name="Doe",
        subscriber_first_name="Jane",
        subscriber_dob=date(1980, 1, 1),
        payer_code="SBX",
        payer_active=True,
        duplicate_of="",
    )


@pytest.mark.parametrize(("visit_type", "procedures", "diagnoses"), VISIT_CODES)
def test_every_demo_visit_type_codes_cleanly(visit_type, procedures, diagnoses):
    assert procedures and diagnoses, f"{visit_type} has no typical codes"
    ctx = _context(list(procedures), list(diagnoses))
    findings = [
        f
        for rule in (
            rule_icd10_billable,
            rule_charges_point_to_diagnoses,
            rule_diagnosis_procedure_pairs,
        )
        for f in rule(ctx, SETTINGS)
    ]
    assert findings == []


def test_every_pairing_rule_names_real_icd10_codes():
    # A prefix that is no ICD-10-CM code or category could never be satisfied.
    for prefix, diagnoses, _ in DEFAULT_RULES:
        assert [dx for dx in diagnoses if not icd10_exists(dx)] == [], prefix


@pytest.mark.django_db
def test_every_demo_payer_prices_every_demo_procedure():
    build_network(rng=random.Random(5), locations=2, providers=4, today=DAY)
    wanted = {code for _, procedures, _ in VISIT_CODES for code in procedures}
    for payer in Payer.objects.all():
        priced = set(
            FeeSchedule.objects.filter(payer=payer).values_list("procedure_code", flat=True)
        )
        assert wanted - priced == set(), payer.payer_code
