"""The revenue KPI page and the claim and eligibility drill-downs behind its numbers.

Registered with scheduling's KPI registry when BillingConfig.ready imports this package.
"""

from __future__ import annotations

from dataclasses import replace

from django.db.models import QuerySet

from billing.models import Claim, EligibilityCheck
from scheduling.kpi.drill import fmt_time, person_name
from scheduling.kpi.filters import KpiFilters
from scheduling.kpi.registry import Column, Drill, Section, drill_register, section_register
from scheduling.kpi.selectors import in_period
from scheduling.kpi.tables import Page, Table, counted, drill_url

from . import selectors as revenue


def _revenue(f: KpiFilters) -> Page:
    ar = revenue.open_ar(f)
    denial_columns = [
        ("Name", "name", "text"),
        ("Adjudicated", "adjudicated", "count"),
        ("Denied", "denied", "count"),
        ("Denial rate", "denial_rate", "percent"),
    ]
    return Page(
        metrics=revenue.revenue_metrics(f),
        tables=[
            Table(
                "open_ar",
                "Open A/R now (submitted or accepted, not yet adjudicated)",
                [
                    ("Claims", "claims", "count"),
                    ("Balance", "balance", "money"),
                    ("Average age", "age_days", "days"),
                ],
                [ar] if ar["claims"] else [],
            ),
            Table(
                "denials_by_reason",
                "Denials by reason (CAS on denied claims and their lines; a claim with several "
                "reasons counts under each)",
                [
                    ("Reason", "reason", "text"),
                    ("Claims", "claims", "count"),
                    ("Amount", "amount", "money"),
                ],
                revenue.denials_by_reason(f),
                link=lambda r: drill_url("denied_claims", f, reason=r["example"]),
                link_label=lambda r: counted(r["claims"], "denied claim"),
            ),
            Table(
                "denials_by_payer",
                "Denials by payer",
                denial_columns,
                revenue.denials_by(f, "payer"),
                link=lambda r: drill_url("denied_claims", f, payer=r["id"]),
                link_label=lambda r: counted(r["denied"], "denied claim"),
            ),
            Table(
                "denials_by_location",
                "Denials by location",
                denial_columns,
                revenue.denials_by(f, "location"),
                link=lambda r: drill_url("denied_claims", replace(f, location_id=r["id"])),
                link_label=lambda r: counted(r["denied"], "denied claim"),
            ),
        ],
    )


def _claims(qs: QuerySet[Claim]) -> QuerySet[Claim]:
    return qs.select_related(
        "payer", "encounter__location", "encounter__patient", "encounter"
    ).order_by("-created_at", "-pk")


def _claims_created(f: KpiFilters, _: dict[str, int]) -> QuerySet[Claim]:
    return _claims(revenue.claims_scoped(f).filter(in_period("created_at", f)))


def _unclean(f: KpiFilters, _: dict[str, int]) -> QuerySet[Claim]:
    return _claims_created(f, _).filter(revenue.unclean_q())


def _adjudicated(f: KpiFilters, params: dict[str, int]) -> QuerySet[Claim]:
    qs = revenue.claims_scoped(f).filter(revenue.adjudicated_q(), in_period("adjudicated_at", f))
    if params.get("payer"):
        qs = qs.filter(payer_id=params["payer"])
    return _claims(qs)


def _denied(f: KpiFilters, params: dict[str, int]) -> QuerySet[Claim]:
    denied = _adjudicated(f, params).filter(revenue.denied_q())
    if "reason" in params:
        return revenue.denied_for_reason(denied, params["reason"])
    return denied


def _eligibility_failures(f: KpiFilters, _: dict[str, int]) -> QuerySet[EligibilityCheck]:
    return (
        revenue.eligibility_scoped(f)
        .filter(in_period("requested_at", f), revenue.ELIGIBILITY_FAILED)
        .select_related("coverage__plan__payer", "coverage__patient", "appointment__location")
        .order_by("-requested_at", "-pk")
    )


CLAIM_COLUMNS = [
    Column("Claim", lambda r: r.claim_number),
    Column("Created", lambda r: fmt_time(r.created_at, r.encounter.location)),
    Column("Date of service", lambda r: r.encounter.date_of_service.isoformat()),
    Column("Location", lambda r: r.encounter.location.name),
    Column("Payer", lambda r: r.payer.name),
    Column("Status", lambda r: r.get_status_display()),
    Column("Charge", lambda r: r.total_charge),
    Column("Paid", lambda r: r.paid_amount),
    Column("Adjudicated", lambda r: fmt_time(r.adjudicated_at, r.encounter.location)),
    Column("Patient id", lambda r: r.encounter.patient_id),
    Column("Patient", lambda r: person_name(r.encounter.patient), phi=True),
]

_DRILLS: dict[str, Drill] = {
    "eligibility_failures": Drill(
        "Eligibility failures",
        "Checks answered inactive or with a payer error.",
        _eligibility_failures,
        [
            Column("Check", lambda r: r.pk),
            Column(
                "Requested",
                lambda r: fmt_time(r.requested_at, r.appointment and r.appointment.location),
            ),
            Column("Payer", lambda r: r.coverage.plan.payer.name),
            Column("Status", lambda r: r.get_status_display()),
            Column("Errors", lambda r: "; ".join(e.get("code", "") for e in r.errors or [])),
            Column("Location", lambda r: r.appointment.location.name if r.appointment else ""),
            Column("Patient id", lambda r: r.coverage.patient_id),
            Column("Patient", lambda r: person_name(r.coverage.patient), phi=True),
        ],
        patient_id=lambda r: r.coverage.patient_id,
    ),
    "claims": Drill(
        "Claims",
        "Claims created in the period.",
        _claims_created,
        CLAIM_COLUMNS,
        patient_id=lambda r: r.encounter.patient_id,
    ),
    "unclean_claims": Drill(
        "Claims that were not clean",
        "Claims with a scrubber finding, or rejected or denied.",
        _unclean,
        CLAIM_COLUMNS,
        patient_id=lambda r: r.encounter.patient_id,
    ),
    "adjudicated_claims": Drill(
        "Adjudicated claims",
        "Claims paid, partly paid or denied in the period.",
        _adjudicated,
        CLAIM_COLUMNS,
        patient_id=lambda r: r.encounter.patient_id,
    ),
    "denied_claims": Drill(
        "Denied claims",
        "Claims adjudicated in the period and denied.",
        _denied,
        CLAIM_COLUMNS,
        patient_id=lambda r: r.encounter.patient_id,
    ),
}

for _key, _drill in _DRILLS.items():
    drill_register(_key, _drill)

section_register(
    Section(
        "revenue",
        "Revenue",
        40,
        _revenue,
        overview_metrics=revenue.revenue_metrics,
        overview_keys=frozenset({"eligibility_failures", "denials"}),
    )
)
