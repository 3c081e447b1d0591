"""The single-patient scope check (compiled once, its ids swapped in) answers exactly as
the queryset every search filters with, in every case the scope knows."""

from __future__ import annotations

import pytest

from patients.models import Patient
from scheduling import services
from scheduling.selectors.access import patient_in_scope, patients_in_scope
from tests import factories as f

from .test_region_scope import REASON, Net

pytestmark = pytest.mark.django_db


def by_queryset(user, patient_id: int) -> bool:
    return patients_in_scope(user, Patient.objects.filter(pk=patient_id)).exists()


def test_one_patient_is_in_scope_exactly_when_the_queryset_says_so(agent, other_agent):
    net = Net(agent)
    nobodys = f.patient(home_location=None)  # no home, no history: the registering agent's
    patients = [net.local, net.foreign, net.seen_here, net.charted_here, nobodys]
    expected = {net.local: True, net.foreign: False, net.seen_here: True}
    expected |= {net.charted_here: True, nobodys: True}
    for patient in patients:
        assert patient_in_scope(agent, patient.pk) is expected[patient], patient
        assert by_queryset(agent, patient.pk) is expected[patient]
    assert patient_in_scope(agent, 999_999) is False

    # A widen for an open call reaches the patient, for that agent only, until it ends.
    call = services.call_start(agent=agent, caller_phone="3035550100")
    services.access_widen(user=agent, patient=net.foreign, call=call, reason=REASON)
    f.agent_profile(user=other_agent, home_region=net.valley)
    assert patient_in_scope(agent, net.foreign.pk) is True is by_queryset(agent, net.foreign.pk)
    assert patient_in_scope(other_agent, net.foreign.pk) is False
    services.call_wrap_up(call=call, by=agent, outcome="info_only", notes="", reason="other")
    assert patient_in_scope(agent, net.foreign.pk) is False is by_queryset(agent, net.foreign.pk)
