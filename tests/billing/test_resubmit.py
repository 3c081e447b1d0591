"""Resubmitting unchanged is confirmed first, and the page says when the claim goes out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.models import Claim
from billing.selectors import next_claim_batch_at
from billing.services import claim_status_set, encounter_document
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def test_the_next_batch_is_the_beat_schedules_next_run():
    # Claims go out hourly at :05 (config/celery.py).
    assert next_claim_batch_at(now=datetime(2026, 3, 2, 8, 7, tzinfo=UTC)) == datetime(
        2026, 3, 2, 9, 5, tzinfo=UTC
    )
    assert next_claim_batch_at(now=datetime(2026, 3, 2, 8, 4, tzinfo=UTC)) == datetime(
        2026, 3, 2, 8, 5, tzinfo=UTC
    )


def test_a_resubmit_without_confirmation_changes_nothing_and_asks(client, biller):
    claim = encounter_document(doc=b.documentation(b.visit())).claims.get()
    claim_status_set(claim=claim, status=Claim.Status.DENIED, note="CO-50")
    client.force_login(biller)

    asked = client.post(f"/billing/claims/{claim.pk}/", {"action": "resubmit"})

    claim.refresh_from_db()
    assert claim.status == Claim.Status.DENIED
    assert asked["Location"].endswith("?confirm=resubmit")
    page = client.get(asked["Location"]).content.decode()
    assert "Resubmit claim" in page and "joins the next 837P batch" in page

    client.post(f"/billing/claims/{claim.pk}/", {"action": "resubmit", "confirmed": "yes"})
    claim.refresh_from_db()
    assert claim.status == Claim.Status.READY
