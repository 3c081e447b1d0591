"""The console's patient reads: search hits with every location that knows the patient,
and the context panel (demographics, coverage with its last eligibility answer,
clinical needs, visits at every location, the waitlist).

A read-only projection across apps: it reads patients and billing through their
selectors and writes nothing but the access audit entry of an opened context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from billing.selectors import coverage_latest_eligibility
from config.audit import audit_access
from patients.models import ClinicalFact, Coverage, Patient, PatientIdentifier
from patients.selectors import (
    PATIENT_NOT_FOUND,
    SEARCH_LIMIT,
    PatientHit,
    patient_active_clinical_facts,
    patient_active_coverages,
    patient_for_viewing,
    patient_hits_again,
    patient_hits_attach_locations,
    patient_identifiers,
)
from patients.selectors import patient_search as _patient_search
from scheduling.geo import zip_point
from scheduling.models import Appointment, Location, Referral, Waitlist
from scheduling.selectors import (
    patient_appointments,
    patient_in_scope,
    patient_locations_seen,
    referrals_of_patient,
    waitlist_open_for_patient,
)

PAST_APPOINTMENTS_SHOWN = 10


def patient_time_zone(patient: Patient) -> str | None:
    """The caller's own zone, for reading slot times to them: their home location's,
    else their home ZIP's; None when neither is known."""
    if patient.home_location_id is not None:
        home = (
            patient.home_location
            if Patient.home_location.is_cached(patient)
            else Location.objects.filter(pk=patient.home_location_id).only("time_zone").first()
        )
        if home is not None and home.time_zone:
            return str(home.time_zone)
    point = zip_point(patient.zip_code) if patient.zip_code else None
    return point.time_zone if point is not None else None


def patient_search(*, query: str, user: Any, limit: int = SEARCH_LIMIT) -> list[PatientHit]:
    """``patients.selectors.patient_search``, each hit also listing the locations that
    booked the patient, so an agent sees everywhere the caller is known. Every hit
    shown is an audited access."""
    hits = _patient_search(
        query=query, user=user, limit=limit, locations_seen=patient_locations_seen
    )
    # A result list shows names, birth dates and phones: one ACCESS entry per hit.
    audit_access(actor=user, instances=[hit.patient for hit in hits])
    return hits


@dataclass
class SearchResults:
    hits: list[PatientHit]
    capped: bool  # more patients matched than are shown
    limit: int = SEARCH_LIMIT

    def remembered(self) -> dict[str, Any]:
        """What the console keeps to show these results again: ids and what matched,
        never what was typed."""
        return {
            "ids": [hit.id for hit in self.hits],
            "matched_on": {str(hit.id): hit.matched_on for hit in self.hits},
            "capped": self.capped,
        }


def patient_search_results(*, query: str, user: Any, limit: int = SEARCH_LIMIT) -> SearchResults:
    """The first ``limit`` hits, and whether there were more (one extra is read)."""
    hits = patient_search(query=query, user=user, limit=limit + 1)
    return SearchResults(hits=hits[:limit], capped=len(hits) > limit, limit=limit)


def patient_search_again(*, remembered: dict[str, Any], user: Any) -> SearchResults:
    """The remembered results of the last search, re-read (a reload, a new page)."""
    matched = {int(k): v for k, v in (remembered.get("matched_on") or {}).items()}
    hits = patient_hits_again(
        ids=[int(i) for i in remembered.get("ids") or []],
        matched_on=matched,
        user=user,
        locations_seen=patient_locations_seen,
    )
    return SearchResults(hits=hits, capped=bool(remembered.get("capped")))


@dataclass
class CoverageView:
    coverage: Coverage
    eligibility_status: str  # "" when never checked
    eligibility_label: str
    eligibility_checked_at: datetime | None


@dataclass
class PatientContext:
    patient: Patient
    age: int
    coverages: list[CoverageView]
    clinical: list[ClinicalFact]
    upcoming: list[Appointment]  # with location/provider/type loaded
    past: list[Appointment]
    waitlist: list[Waitlist]
    locations: list[str]
    identifiers: list[PatientIdentifier]
    referrals: list[Referral]


def patient_context(
    *,
    patient_id: int,
    user: Any,
    audit: bool = True,
    known: Patient | None = None,
    known_in_scope: bool = False,
) -> PatientContext:
    """Everything an agent needs about one patient, in one read; logs the access.

    Every opening is an access audit entry (auditlog ACCESS, the same kind admin writes),
    attributed to ``user`` explicitly so API calls authenticated by token are
    attributed too. ``audit=False`` is for redrawing a context already audited (the
    console redraws the panel after every booking or cancellation; logging each redraw
    would bury the real accesses), so the caller decides what counts as one access.
    ``known`` and ``known_in_scope``: the row (read with ``patient_with_home``) and the
    scope check the same request has made already, so neither is repeated.
    Raises PermissionDenied and Patient.DoesNotExist as ``patient_for_viewing`` does.
    """
    patient = patient_for_viewing(patient_id=patient_id, user=user, known=known)
    if not known_in_scope and not patient_in_scope(user, patient.pk):
        # Outside the agent's region and not widened for an open call: as if unknown.
        raise Patient.DoesNotExist(PATIENT_NOT_FOUND)
    now = timezone.now()
    coverages = patient_active_coverages(patient=patient)
    latest = coverage_latest_eligibility(coverage_ids=[cov.pk for cov in coverages])
    coverage_views = []
    for cov in coverages:
        last_check = latest.get(cov.pk)
        coverage_views.append(
            CoverageView(
                coverage=cov,
                eligibility_status=last_check.status if last_check else "",
                eligibility_label=(
                    last_check.get_status_display() if last_check else "Never checked"
                ),
                eligibility_checked_at=(
                    (last_check.responded_at or last_check.requested_at) if last_check else None
                ),
            )
        )
    upcoming, past = patient_appointments(
        patient_id=patient.pk, now=now, past_limit=PAST_APPOINTMENTS_SHOWN
    )
    waitlist = waitlist_open_for_patient(patient_id=patient.pk)
    referrals = referrals_of_patient(patient_id=patient.pk)
    identifiers = patient_identifiers(patient=patient)
    clinical = patient_active_clinical_facts(patient=patient)
    hit = PatientHit(patient=patient, score=1.0, matched_on=[])
    patient_hits_attach_locations([hit], seen=patient_locations_seen([patient.pk]))

    if audit:
        audit_access(actor=user, instances=[patient])
    return PatientContext(
        patient=patient,
        age=patient.age_on(now.date()),
        coverages=coverage_views,
        clinical=clinical,
        upcoming=upcoming,
        past=past,
        waitlist=waitlist,
        locations=hit.locations,
        identifiers=identifiers,
        referrals=referrals,
    )
