"""Revenue-cycle KPIs read from billing's models as they stand (eligibility, claims, 835s)."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import (
    Adjustment,
    Claim,
    ClaimFinding,
    ClaimStatusHistory,
    EligibilityCheck,
    RemittanceClaim,
)
from scheduling.kpi.filters import KpiFilters
from scheduling.kpi.metrics import NO_DATA, Metric, days, rate, rate_metric
from scheduling.kpi.selectors import scoped

# CLP02 = 4: "Denied" (X12 835, loop 2100 CLP segment).
CLP_DENIED = "4"
ADJUDICATED = [Claim.Status.PAID, Claim.Status.PARTIAL, Claim.Status.DENIED]
OPEN_AR = [Claim.Status.SUBMITTED, Claim.Status.ACCEPTED]

DEF_ELIGIBILITY = (
    "Eligibility checks requested in the period whose 271 said inactive coverage or returned a "
    "payer error, out of checks that got an answer. Location filters apply through the "
    "checked appointment."
)
DEF_CLEAN = (
    "Claims created in the period that the scrubber passed with no finding and that were "
    "never rejected or denied, out of all claims created in the period."
)
DEF_DENIAL = (
    "Claims adjudicated in the period that were denied (claim status denied, or an 835 CLP02 = 4 "
    "for it), out of all claims adjudicated (paid, partly paid, denied)."
)
DEF_AR = (
    "Average days from claim creation to adjudication for claims adjudicated in the period. "
    "Open A/R below lists claims still awaiting adjudication now, with their average age."
)
DEF_LAG = "Average days from the encounter's date of service to the claim's creation."


def _source_note(present: bool, what: str) -> str:
    return "" if present else f"{NO_DATA}: billing has not recorded any {what}."


def claims_scoped(f: KpiFilters) -> QuerySet[Claim]:
    return scoped(
        Claim.objects.all(),
        f,
        region="encounter__location__region_id",
        location="encounter__location_id",
        agent="encounter__appointment__booked_by_id",
        appointment_type="encounter__appointment__appointment_type_id",
    )


def eligibility_scoped(f: KpiFilters) -> QuerySet[EligibilityCheck]:
    return scoped(
        EligibilityCheck.objects.all(),
        f,
        region="appointment__location__region_id",
        location="appointment__location_id",
        agent="appointment__booked_by_id",
        appointment_type="appointment__appointment_type_id",
    )


ELIGIBILITY_FAILED = Q(status__in=[EligibilityCheck.Status.INACTIVE, EligibilityCheck.Status.ERROR])
ELIGIBILITY_ANSWERED = ~Q(status=EligibilityCheck.Status.PENDING)


def unclean_q() -> Q:
    finding = Exists(ClaimFinding.objects.filter(claim_id=OuterRef("pk")))
    bounced = Exists(
        ClaimStatusHistory.objects.filter(
            claim_id=OuterRef("pk"), status__in=[Claim.Status.REJECTED, Claim.Status.DENIED]
        )
    )
    return Q(finding) | Q(bounced) | Q(status__in=[Claim.Status.REJECTED, Claim.Status.DENIED])


def denied_q() -> Q:
    clp_denied = Exists(
        RemittanceClaim.objects.filter(claim_id=OuterRef("pk"), status_code=CLP_DENIED)
    )
    return Q(status=Claim.Status.DENIED) | Q(clp_denied)


def adjudicated_q() -> Q:
    return Q(status__in=ADJUDICATED, adjudicated_at__isnull=False)


CLAIM_AGE = ExpressionWrapper(F("adjudicated_at") - F("created_at"), output_field=DurationField())
# Adjudicated on the (UTC) day the claim was created: no payer answers that fast, so a period
# made only of these (claims posted at seeding or import time) gets a caveat, not a new number.
SAME_DAY = Q(adjudicated_at__date=F("created_at__date"))
SAME_DAY_NOTE = (
    "Every claim adjudicated in this period was adjudicated the day it was created (claims "
    "entered already adjudicated, as the demo seed does), so this shows no payer turnaround."
)
CLAIM_LAG = ExpressionWrapper(
    TruncDate("created_at") - F("encounter__date_of_service"), output_field=DurationField()
)


def _span(field: str, f: KpiFilters) -> Q:
    return Q(**{f"{field}__gte": f.prev_start, f"{field}__lt": f.end})


def revenue_metrics(f: KpiFilters) -> list[Metric]:
    checks = eligibility_scoped(f).filter(_span("requested_at", f))
    ecur, eprev = Q(requested_at__gte=f.start), Q(requested_at__lt=f.start)
    eagg = checks.aggregate(
        cur=Count("id", filter=ecur & ELIGIBILITY_ANSWERED),
        prev=Count("id", filter=eprev & ELIGIBILITY_ANSWERED),
        bad_cur=Count("id", filter=ecur & ELIGIBILITY_FAILED),
        bad_prev=Count("id", filter=eprev & ELIGIBILITY_FAILED),
    )
    created = claims_scoped(f).filter(_span("created_at", f))
    ccur, cprev = Q(created_at__gte=f.start), Q(created_at__lt=f.start)
    unclean = unclean_q()
    cagg = created.aggregate(
        cur=Count("id", filter=ccur),
        prev=Count("id", filter=cprev),
        unclean_cur=Count("id", filter=ccur & unclean),
        unclean_prev=Count("id", filter=cprev & unclean),
        lag_cur=Avg(CLAIM_LAG, filter=ccur),
        lag_prev=Avg(CLAIM_LAG, filter=cprev),
    )
    adjudicated = claims_scoped(f).filter(_span("adjudicated_at", f), adjudicated_q())
    acur, aprev = Q(adjudicated_at__gte=f.start), Q(adjudicated_at__lt=f.start)
    denied = denied_q()
    aagg = adjudicated.aggregate(
        cur=Count("id", filter=acur),
        prev=Count("id", filter=aprev),
        denied_cur=Count("id", filter=acur & denied),
        denied_prev=Count("id", filter=aprev & denied),
        same_day_cur=Count("id", filter=acur & SAME_DAY),
        age_cur=Avg(CLAIM_AGE, filter=acur),
        age_prev=Avg(CLAIM_AGE, filter=aprev),
    )
    has_checks = bool(eagg["cur"] or eagg["prev"]) or EligibilityCheck.objects.exists()
    has_claims = bool(cagg["cur"] or cagg["prev"] or aagg["cur"] or aagg["prev"]) or (
        Claim.objects.exists()
    )

    def clean(cur: int, bad: int) -> float | None:
        return rate(cur - bad, cur) if cur else None

    return [
        rate_metric(
            "eligibility_failures",
            "Eligibility failures",
            DEF_ELIGIBILITY,
            eagg,
            numerator="bad",
            drill="eligibility_failures",
            no_source=_source_note(has_checks, "eligibility checks"),
            lower_is_better=True,
        ),
        Metric(
            "clean_claims",
            "Clean-claim rate",
            DEF_CLEAN,
            "percent",
            clean(cagg["cur"], cagg["unclean_cur"]),
            clean(cagg["prev"], cagg["unclean_prev"]),
            numerator=cagg["cur"] - cagg["unclean_cur"],
            denominator=cagg["cur"],
            drill="unclean_claims",
            no_source=_source_note(has_claims, "claims"),
        ),
        rate_metric(
            "denials",
            "Denial rate",
            DEF_DENIAL,
            aagg,
            numerator="denied",
            drill="denied_claims",
            no_source=_source_note(has_claims, "claims"),
            lower_is_better=True,
        ),
        Metric(
            "days_in_ar",
            "Days in A/R",
            DEF_AR,
            "days",
            days(aagg["age_cur"]),
            days(aagg["age_prev"]),
            drill="adjudicated_claims",
            no_source=_source_note(has_claims, "claims"),
            lower_is_better=True,
            note=SAME_DAY_NOTE if aagg["cur"] and aagg["same_day_cur"] == aagg["cur"] else "",
        ),
        Metric(
            "claim_lag",
            "Encounter-to-claim lag",
            DEF_LAG,
            "days",
            days(cagg["lag_cur"]),
            days(cagg["lag_prev"]),
            drill="claims",
            no_source=_source_note(has_claims, "claims"),
            lower_is_better=True,
        ),
    ]


def open_ar(f: KpiFilters) -> dict[str, Any]:
    now = timezone.now()
    agg = (
        claims_scoped(f)
        .filter(status__in=OPEN_AR)
        .aggregate(
            claims=Count("id"),
            balance=Sum(F("total_charge") - F("paid_amount")),
            age=Avg(
                ExpressionWrapper(now - F("created_at"), output_field=DurationField()),
            ),
        )
    )
    return {"claims": agg["claims"], "balance": agg["balance"], "age_days": days(agg["age"])}


def denials_by(f: KpiFilters, dimension: str) -> list[dict[str, Any]]:
    """Denial rate per payer or per location for claims adjudicated in the period."""
    fields = {
        "payer": ("payer_id", "payer__name"),
        "location": ("encounter__location_id", "encounter__location__name"),
    }[dimension]
    rows = (
        claims_scoped(f)
        .filter(adjudicated_q(), adjudicated_at__gte=f.start, adjudicated_at__lt=f.end)
        .values(*fields)
        .annotate(adjudicated=Count("id"), denied=Count("id", filter=denied_q()))
        .order_by(fields[1])
    )
    return [
        {
            "id": r[fields[0]],
            "name": r[fields[1]],
            "adjudicated": r["adjudicated"],
            "denied": r["denied"],
            "denial_rate": rate(r["denied"], r["adjudicated"]),
        }
        for r in rows
    ]


UNKNOWN_REASON = "unknown reason"


def denial_adjustments(denied: QuerySet[Claim]) -> QuerySet[Adjustment]:
    """The CAS adjustments that explain these denied claims: every remittance of a claim
    whose status is denied, or the CLP02 = 4 remittance of one later re-adjudicated."""
    return Adjustment.objects.filter(remittance_claim__claim__in=denied).filter(
        Q(remittance_claim__claim__status=Claim.Status.DENIED)
        | Q(remittance_claim__status_code=CLP_DENIED)
    )


def denied_for_reason(denied: QuerySet[Claim], example: int) -> QuerySet[Claim]:
    """The denied claims under one row of ``denials_by_reason``: the reason of adjustment
    ``example``, or, for 0, the claims no adjustment explains."""
    adjustments = denial_adjustments(denied)
    if example == 0:
        return denied.exclude(pk__in=adjustments.values("remittance_claim__claim_id"))
    code = Adjustment.objects.filter(pk=example).values_list("group_code", "reason_code").first()
    if code is None:
        return denied.none()
    same = adjustments.filter(group_code=code[0], reason_code=code[1])
    return denied.filter(pk__in=same.values("remittance_claim__claim_id"))


def denials_by_reason(f: KpiFilters) -> list[dict[str, Any]]:
    """CAS reasons of the denied claims adjudicated in the period, so the table reconciles with
    the denial rate.

    The claims are exactly the rate's numerator (``denied_q``): a claim sent back with
    CLP02 = 1 whose every line was denied (CO-97 on the lines) is denied too, not only CLP02 = 4.
    Reasons come from the claim-level and line-level (``procedure_code`` set) CAS adjustments
    of its 835 claims: every remittance of a claim whose status is denied, or the CLP02 = 4
    remittance of one later re-adjudicated. A claim with several reasons counts under each; a
    denied claim with no CAS at all is listed as "unknown reason" rather than dropped.
    """
    denied = claims_scoped(f).filter(
        adjudicated_q(), denied_q(), adjudicated_at__gte=f.start, adjudicated_at__lt=f.end
    )
    adjustments = denial_adjustments(denied)
    rows = (
        adjustments.values("group_code", "reason_code")
        .annotate(
            claims=Count("remittance_claim__claim_id", distinct=True),
            amount=Sum("amount"),
            # Any one adjustment with this reason: the row's drill-down names the reason by
            # this id, so its link carries an id rather than a code.
            example=Min("id"),
        )
        .order_by("-claims", "group_code", "reason_code")
    )
    out: list[dict[str, Any]] = [
        {
            "reason": f"{r['group_code']}-{r['reason_code']}",
            "group_code": r["group_code"],
            "reason_code": r["reason_code"],
            "claims": r["claims"],
            "amount": r["amount"],
            "example": r["example"],
        }
        for r in rows
    ]
    unexplained = denied.exclude(pk__in=adjustments.values("remittance_claim__claim_id")).aggregate(
        claims=Count("id"), amount=Sum("total_charge")
    )
    if unexplained["claims"]:
        out.append(
            {
                "reason": UNKNOWN_REASON,
                "group_code": "",
                "reason_code": "",
                "claims": unexplained["claims"],
                # No CAS amount to show: the claim's whole charge is what went unpaid.
                "amount": unexplained["amount"],
                "example": 0,
            }
        )
    return out
