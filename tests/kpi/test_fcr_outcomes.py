"""First-call resolution honours the wrap-up: a transferred call, or one that needs a
callback, was not resolved, even if the patient never calls again."""

from __future__ import annotations

import pytest

from scheduling.kpi import selectors
from scheduling.models import Call

from .dataset import PERIOD

pytestmark = pytest.mark.django_db


def _fcr(kpi_net):
    fcr = next(m for m in selectors.access_metrics(PERIOD) if m.key == "fcr")
    return fcr.numerator, fcr.denominator


def test_a_transferred_or_callback_needed_call_is_not_resolved(client, ops_manager, kpi_net):
    # Of c1..c4, only c1 was called back: 3 of 4 before (test_known_answers).
    assert _fcr(kpi_net) == (3, 4)
    recall = Call.objects.get(reason="recall", started_at__date__gte=PERIOD.date_from)
    follow_up = Call.objects.get(reason="follow_up")
    Call.objects.filter(pk=recall.pk).update(outcome=Call.Outcome.TRANSFERRED)
    Call.objects.filter(pk=follow_up.pk).update(outcome=Call.Outcome.CALLBACK)

    assert _fcr(kpi_net) == (1, 4)
    client.force_login(ops_manager)
    response = client.get(f"/kpi/drill/fcr_callbacks/?{PERIOD.query()}&format=csv")
    rows = [line for line in response.content.decode().splitlines() if line][1:]
    assert len(rows) == 3  # c1 (called back), the transferred call and the callback one
