"""270s out and 271s back through the sandbox clearinghouse (integrations/x12/inquiry.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import EligibilityCheck
from integrations.models import Message
from integrations.x12.inquiry import ERR_NO_CONNECTOR, eligibility_response_post
from integrations.x12.tasks import eligibility_check_send_task
from patients.models import Coverage
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def test_the_sandbox_answers_with_a_full_benefits_summary(tmp_path):
    v = b.visit()
    b.sandbox_for(v.payer, tmp_path)
    Coverage.objects.filter(pk=v.coverage.pk).update(member_id="ACTIVE0001")
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())

    eligibility_check_send_task.apply(args=[check.pk])

    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.ACTIVE
    assert check.plan_begin.month == 1 and check.plan_end.month == 12
    assert check.copay is not None and check.deductible_remaining is not None
    assert check.coinsurance_percent in {Decimal("20.00"), Decimal("30.00"), Decimal("50.00")}


@pytest.mark.parametrize(
    ("member_id", "status", "code"),
    [
        ("INACTIVE77", EligibilityCheck.Status.INACTIVE, None),
        ("NOTFOUND12", EligibilityCheck.Status.ERROR, "75"),
    ],
)
def test_inactive_and_unknown_members(tmp_path, member_id, status, code):
    v = b.visit()
    b.sandbox_for(v.payer, tmp_path)
    Coverage.objects.filter(pk=v.coverage.pk).update(member_id=member_id)
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())

    eligibility_check_send_task.apply(args=[check.pk])

    check.refresh_from_db()
    assert check.status == status
    if code:
        assert check.errors[0]["code"] == code
        assert check.errors[0]["message"] == "Subscriber / insured not found"


def test_a_payer_without_connector_is_an_error_not_a_hang():
    v = b.visit()
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    eligibility_check_send_task.apply(args=[check.pk])
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.ERROR
    assert check.errors[0]["message"] == ERR_NO_CONNECTOR


def test_a_payer_level_rejection_answers_every_check_of_its_270(tmp_path):
    down = b.payer(code="SBXDOWN")
    v1, v2 = b.visit(the_payer=down), b.visit(the_payer=down)
    b.sandbox_for(down, tmp_path)
    ids = [
        EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now()).pk
        for v in (v1, v2)
    ]
    from integrations.x12.inquiry import eligibility_checks_send

    eligibility_checks_send(check_ids=ids)

    for check in EligibilityCheck.objects.filter(pk__in=ids):
        assert check.status == EligibilityCheck.Status.ERROR
        assert check.errors[0]["code"] == "42" and check.errors[0]["loop"] == "2100A"


def test_a_malformed_271_is_kept_and_changes_nothing(tmp_path):
    v = b.visit()
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    raw = "ISA*00*          *00*          *ZZ*SBX            *ZZ*CAREHUB        *260309*0830*^*00501*000000042*0*T*:~GS*HB*SBX*CAREHUB*20260309*0830*42*X*005010X279A1~ST*271*0001*005010X279A1~BHT*0022*11~"

    result = eligibility_response_post(raw=raw, connector=None)

    assert "truncated" in result.error
    msg = Message.objects.get()
    assert (
        msg.status == Message.Status.REJECTED and msg.raw == raw and "truncated" in msg.last_error
    )
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.PENDING


def test_a_271_from_an_unknown_payer_is_kept_and_changes_nothing(tmp_path):
    from tests.integrations.x12.samples import DELTA_STYLE, wrap

    v = b.visit()
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    raw = wrap("271", DELTA_STYLE.replace("EC41", f"EC{check.pk}"))

    result = eligibility_response_post(raw=raw, connector=None)

    assert result.error == "The 271 comes from a payer the hub does not know (SBXDD1)."
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.PENDING
    assert Message.objects.get().status == Message.Status.REJECTED
