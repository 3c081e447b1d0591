"""Patient search on the large seeded network: does it feel instant at 100,000 patients?

Run against the read-only benchmark database (never modified: every query is a read and
the test's transaction is rolled back):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/carehub_bench make bench
    DATABASE_URL=sqlite:////path/to/bench.sqlite3 make bench   # a seed_demo'd SQLite copy

240 queries an agent would type: a surname with one letter dropped, first name plus a
misspelt surname, misspelt surname plus DOB, and a phone number.
"""

from __future__ import annotations

import random
import statistics
import time

import pytest

from patients.models import Patient
from scheduling.console.readmodel import patient_search

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def django_db_setup():
    """Use the seeded database as it is: no test database, no flush."""


class _Agent:
    is_authenticated = True

    def has_perm(self, perm: str) -> bool:
        return True


def _typo(name: str, rng: random.Random) -> str:
    if len(name) < 5:
        return name
    i = rng.randrange(1, len(name) - 1)
    return name[:i] + name[i + 1 :]


def test_patient_search_latency_on_the_large_network():
    if Patient.objects.count() < 50_000:
        pytest.skip("needs DATABASE_URL pointing at the seeded benchmark network")
    rng = random.Random(7)
    ids = list(Patient.objects.order_by("pk").values_list("id", flat=True))
    sample = Patient.objects.in_bulk(rng.sample(ids, 60))
    queries: list[tuple[str, int | None]] = []  # (typed, patient who must be in the results)
    for p in sample.values():
        typo = _typo(p.last_name, rng)
        queries += [
            (typo, None),  # a bare common surname matches hundreds: only speed counts
            (f"{p.first_name} {typo}", None),
            (f"{typo} {p.date_of_birth:%m/%d/%Y}", p.pk),
            (p.phone, p.pk),
        ]
    agent = _Agent()
    patient_search(query="warm up", user=agent)

    timings, found, expected, missed = [], 0, 0, 0
    for q, who in queries:
        start = time.perf_counter()
        hits = patient_search(query=q, user=agent)
        timings.append((time.perf_counter() - start) * 1000)
        found += bool(hits)
        if who is not None:
            expected += 1
            missed += who not in [h.id for h in hits]
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"\npatient_search over {Patient.objects.count():,} patients, {len(queries)} queries: "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms; "
        f"{found}/{len(queries)} found someone; the right patient in "
        f"{expected - missed}/{expected} name+DOB and phone searches"
    )
    assert found == len(queries) and missed == 0
    assert p95 < 150, "patient search no longer feels instant"
