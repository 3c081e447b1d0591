"""High-dollar codes need a note the EHR signed, with its time: a DFT's message id from a
PMS is not documentation; the same visit signed by the EHR is."""

from __future__ import annotations

import pytest

from billing import scrubber as s
from billing.models import Claim, Encounter
from integrations.models import Connector
from tests.billing import builders as b

from .hl7_samples import dft
from .test_inbound_scheduling import _receive

pytestmark = pytest.mark.django_db


def _dft_claim(connector: Connector, settings) -> tuple[Claim, Encounter]:
    settings.BILLING_DOCUMENTATION_THRESHOLD = 500
    visit = b.visit()
    connector.location = visit.location
    connector.save()
    (row,) = _receive(
        dft("D1", appointment_id=visit.appointment.pk, cpt=("D7240",), icd=("K01.1",))
    )
    assert row.status == "processed", row.last_error
    encounter = Encounter.objects.get(appointment=visit.appointment)
    return encounter.claims.get(), encounter


def test_a_620_dollar_extraction_posted_by_a_pms_dft_is_held_undocumented(pms, settings):
    claim, encounter = _dft_claim(pms, settings)

    assert encounter.documentation_ref == "D1"  # a reference string is there...
    assert encounter.ehr_documented_at is None  # ...but no EHR signed anything
    assert claim.status == Claim.Status.HELD
    assert s.HIGH_DOLLAR_UNDOCUMENTED in set(claim.findings.values_list("code", flat=True))


def test_the_same_dft_from_the_ehr_with_its_event_time_documents_it(pms, settings):
    pms.role = Connector.Role.LOCATION_EHR
    pms.save()

    claim, encounter = _dft_claim(pms, settings)

    assert encounter.ehr_documented_at is not None
    assert s.HIGH_DOLLAR_UNDOCUMENTED not in set(claim.findings.values_list("code", flat=True))
