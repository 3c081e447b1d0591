"""Revenue-cycle benchmarks (make bench): figures go to the README's "Revenue cycle".

- scrub 10,000 claims and write them as 837P: <= 10 s
- build a 5,000-appointment eligibility batch and parse its 271s: <= 10 s, payer time
  (the sandbox payer building its answers) excluded.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.eligibility_batch import Throttle
from billing.models import Charge, Claim, Diagnosis, EligibilityCheck, Encounter, FeeSchedule
from billing.rules import rules_install_defaults
from integrations.models import Connector
from integrations.sandbox_payer import payer as sandbox
from integrations.x12.inquiry import eligibility_batch_send
from integrations.x12.submission import claims_submit
from patients.models import Coverage, Patient
from scheduling.models import Appointment
from tests import factories as f
from tests.billing import builders as b

pytestmark = pytest.mark.django_db(transaction=True)


def _world(n: int, *, payers: int = 5, providers: int = 10):
    loc = f.location(npi="1234567893", address_line="1 Main St", city="Denver", state="CO")
    provs = [f.provider(locations=[loc]) for _ in range(providers)]
    atype = f.appointment_type()
    pays = [b.payer(max_requests_per_minute=100_000) for _ in range(payers)]
    plans = [f.plan(payer=p) for p in pays]
    patients = Patient.objects.bulk_create(
        Patient(
            first_name="Jamie",
            last_name=f"Bench{i}",
            date_of_birth=date(1980, 1, 1) + timedelta(days=i % 9000),
            zip_code="80202",
        )
        for i in range(n)
    )
    coverages = Coverage.objects.bulk_create(
        Coverage(
            patient=p,
            plan=plans[i % payers],
            member_id=f"BM{i:08d}",
            subscriber_first_name=p.first_name,
            subscriber_last_name=p.last_name,
            subscriber_dob=p.date_of_birth,
        )
        for i, p in enumerate(patients)
    )
    return loc, provs, atype, pays, patients, coverages


def test_scrub_and_write_10000_claims_as_837p(tmp_path):
    n = 10_000
    rules_install_defaults()
    loc, provs, _atype, pays, patients, coverages = _world(n)
    FeeSchedule.objects.filter(payer__in=pays).update(amount=Decimal("95.00"))
    now = timezone.now()
    day = date(2026, 3, 2)
    encounters = Encounter.objects.bulk_create(
        Encounter(
            encounter_number=f"BENCH{i:07d}",
            patient=p,
            provider=provs[i % len(provs)],
            location=loc,
            date_of_service=day + timedelta(days=i % 20),
            status=Encounter.Status.BILLED,
            documented_at=datetime.combine(
                day + timedelta(days=i % 20), datetime.min.time(), tzinfo=UTC
            )
            + timedelta(hours=20),
            documentation_ref=f"NOTE{i}",
            created_at=now,
        )
        for i, p in enumerate(patients)
    )
    broken = set(range(0, n, 50))  # 2 % of claims carry a mistake the scrubber must stop
    Diagnosis.objects.bulk_create(
        [Diagnosis(encounter=e, sequence=1, code="Z0120") for e in encounters]
        + [
            Diagnosis(encounter=e, sequence=2, code="K02" if i in broken else "K0252")
            for i, e in enumerate(encounters)
        ],
        batch_size=5000,
    )
    Charge.objects.bulk_create(
        [
            Charge(
                encounter=e,
                line_number=1,
                procedure_code="D0150",
                amount=Decimal("95.00"),
                diagnosis_pointers=[1],
                service_date=e.date_of_service,
            )
            for e in encounters
        ]
        + [
            Charge(
                encounter=e,
                line_number=2,
                procedure_code="D2391",
                amount=Decimal("95.00"),
                diagnosis_pointers=[2],
                service_date=e.date_of_service,
            )
            for e in encounters
        ],
        batch_size=5000,
    )
    Claim.objects.bulk_create(
        (
            Claim(
                claim_number=f"{e.encounter_number}-1",
                encounter=e,
                coverage=coverages[i],
                payer_id=coverages[i].plan.payer_id,
                total_charge=Decimal("190.00"),
                created_at=now,
            )
            for i, e in enumerate(encounters)
        ),
        batch_size=5000,
    )

    started = time.perf_counter()
    result = claims_submit(out_dir=tmp_path)
    elapsed = time.perf_counter() - started

    written = sum(w.claims for w in result.written)
    size = sum(p.stat().st_size for p in tmp_path.glob("*.x12"))
    print(
        f"\nBENCH scrub+837P: {n} claims in {elapsed:.2f} s "
        f"({written} written in {len(result.written)} files, {size / 1e6:.1f} MB; "
        f"{len(result.held)} held)"
    )
    assert written == n - len(broken) and len(result.held) == len(broken)
    assert elapsed <= 10.0


def test_eligibility_batch_of_5000_appointments(tmp_path, monkeypatch):
    n = 5_000
    loc, provs, atype, pays, patients, _coverages = _world(n, providers=50)
    for p in pays:
        Connector.objects.create(
            name=f"Sandbox {p.payer_code}",
            kind=Connector.Kind.SANDBOX,
            role=Connector.Role.CLEARINGHOUSE,
            payer=p,
            endpoint=str(tmp_path / p.payer_code),
        )
    now = timezone.now()
    Appointment.objects.bulk_create(
        (
            Appointment(
                patient=p,
                # 50 providers, back-to-back half hours each: no overlap (PostgreSQL's
                # exclusion constraint would refuse one), all inside the 7-day window.
                provider=provs[i % len(provs)],
                location=loc,
                appointment_type=atype,
                start=now + timedelta(hours=2, minutes=30 * (i // len(provs))),
                end=now + timedelta(hours=2, minutes=30 * (i // len(provs)) + 30),
                created_at=now,
                updated_at=now,
            )
            for i, p in enumerate(patients)
        ),
        batch_size=5000,
    )
    payer_time = []
    receive = sandbox.SandboxPayer.receive

    def timed(self, raw):
        t = time.perf_counter()
        try:
            return receive(self, raw)
        finally:
            payer_time.append(time.perf_counter() - t)

    monkeypatch.setattr(sandbox.SandboxPayer, "receive", timed)

    started = time.perf_counter()
    run = eligibility_batch_send(days=7, throttle=Throttle(sleep=lambda _s: None))
    total = time.perf_counter() - started
    ours = total - sum(payer_time)

    answered = EligibilityCheck.objects.exclude(status=EligibilityCheck.Status.PENDING).count()
    print(
        f"\nBENCH eligibility: {n} appointments, {run.checked} checked in {total:.2f} s total, "
        f"payer {sum(payer_time):.2f} s, hub {ours:.2f} s "
        f"({len(payer_time)} 270/271 round trips; median payer {statistics.median(payer_time):.2f} s)"
    )
    assert run.checked == n and answered == n
    assert ours <= 10.0
