from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from billing.models import EligibilityCheck
from config.models import AuditEntry as LogEntry
from patients.models import ClinicalFact, PatientIdentifier
from scheduling.console.readmodel import patient_context, patient_search
from scheduling.models import Appointment, Waitlist
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_results_list_every_location_that_knows_the_patient(agent):
    home = f.location(name="Home Clinic")
    mrn_site = f.location(name="Boulder Clinic")
    visit_site = f.location(name="Lakewood Clinic")
    p = f.patient(last_name="Okafor", home_location=home)
    PatientIdentifier.objects.create(patient=p, system="BLD", value="B1", location=mrn_site)
    prov = f.provider(locations=[visit_site])
    s = f.slot(provider=prov, location=visit_site, start=timezone.now() + timedelta(days=3))
    f.appointment(patient=p, slot=s, appointment_type=f.appointment_type())

    (hit,) = patient_search(query="Okafor", user=agent)

    assert hit.locations == ["Home Clinic", "Boulder Clinic", "Lakewood Clinic"]


def test_context_brings_everything_and_logs_the_access(agent):
    loc = f.location(name="Denver Central", time_zone="America/Denver")
    p = f.patient(first_name="Ada", last_name="Lovelace", home_location=loc)
    cov = f.coverage(patient=p)
    checked = timezone.now() - timedelta(days=2)
    EligibilityCheck.objects.create(
        coverage=cov,
        requested_at=checked - timedelta(days=30),
        responded_at=checked - timedelta(days=30),
        status=EligibilityCheck.Status.INACTIVE,
    )
    EligibilityCheck.objects.create(
        coverage=cov, requested_at=checked, responded_at=checked, status="active"
    )
    ClinicalFact.objects.create(
        patient=p,
        kind=ClinicalFact.Kind.NEED,
        description="Wheelchair access",
        source_system="DEN-EHR",
        recorded_at=timezone.now(),
    )
    prov = f.provider(locations=[loc])
    vt = f.appointment_type()
    future = f.slot(provider=prov, location=loc, start=timezone.now() + timedelta(days=5))
    past = f.slot(provider=prov, location=loc, start=timezone.now() - timedelta(days=5))
    upcoming_appt = f.appointment(patient=p, slot=future, appointment_type=vt)
    past_appt = f.appointment(
        patient=p, slot=past, appointment_type=vt, status=Appointment.Status.COMPLETED
    )
    Waitlist.objects.create(
        patient=p,
        appointment_type=vt,
        earliest=date.today(),
        latest=date.today() + timedelta(days=30),
        created_at=timezone.now(),
    )

    ctx = patient_context(patient_id=p.pk, user=agent)

    assert ctx.patient == p
    assert ctx.coverages[0].eligibility_status == "active"
    assert ctx.coverages[0].eligibility_checked_at == checked
    assert [c.description for c in ctx.clinical] == ["Wheelchair access"]
    assert ctx.upcoming == [upcoming_appt]
    assert ctx.past == [past_appt]
    assert len(ctx.waitlist) == 1
    assert ctx.locations == ["Denver Central"]
    access = LogEntry.objects.get(action=LogEntry.Action.ACCESS, object_pk=str(p.pk))
    assert access.actor == agent


def test_context_of_a_never_checked_coverage_says_so(agent):
    p = f.patient()
    f.coverage(patient=p)

    ctx = patient_context(patient_id=p.pk, user=agent)

    assert ctx.coverages[0].eligibility_label == "Never checked"
    assert ctx.coverages[0].eligibility_checked_at is None


def test_context_needs_permission_and_writes_nothing_without_it(outsider):
    p = f.patient()
    with pytest.raises(PermissionDenied):
        patient_context(patient_id=p.pk, user=outsider)
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()
