"""Accuracy: wrong-location bookings, provider-patient mismatches, reschedules, cancels
and no-shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import ExtractYear

from scheduling.models import Appointment, CancelReason, Location, Provider

from ..filters import KpiFilters
from ..metrics import Metric, no_source_note, rate, rate_metric
from .access import booking_q
from .scoping import appointments_scoped, flag, in_both, in_current, in_previous

WRONG_BOOKING_REASONS = [CancelReason.WRONG_LOCATION, CancelReason.WRONG_PROVIDER]
ENDED = [Appointment.Status.CANCELLED, Appointment.Status.RESCHEDULED]


def _wrong_location_definition(days: int) -> str:
    return (
        f"Bookings created in the period that, within {days} days of booking, were moved by a "
        "reschedule to another location or cancelled/rescheduled with the reason “wrong "
        "location” or “wrong provider”. Rate = those ÷ bookings (as on Access: the new half "
        "of a reschedule is not a new booking)."
    )


DEF_MISMATCH = (
    "Bookings created in the period where, in the appointment's year (UTC), the patient's age "
    "was outside the provider's age range on either side of their birthday, or the provider "
    "lists languages and none is the patient's preferred language, or the booking was later "
    "cancelled/rescheduled as “wrong provider”. Rate = those ÷ bookings."
)
DEF_RESCHEDULE = "Appointments scheduled to start in the period that were rescheduled."
DEF_CANCEL = "Appointments scheduled to start in the period that were cancelled."
DEF_NO_SHOW = "Appointments scheduled to start in the period where the patient did not come."


def wrong_location_q(window_days: int) -> Q:
    window = timedelta(days=window_days)
    moved = Exists(
        Appointment.objects.filter(
            rescheduled_from_id=OuterRef("pk"), created_at__lte=OuterRef("created_at") + window
        ).exclude(location_id=OuterRef("location_id"))
    )
    # Only a rescheduled appointment has a successor; testing the status first keeps the
    # correlated probe off the other 96 % of rows.
    moved_q = Q(status=Appointment.Status.RESCHEDULED) & Q(moved)
    wrong_reason = Q(
        status__in=ENDED,
        cancel_reason__in=WRONG_BOOKING_REASONS,
        cancelled_at__lte=F("created_at") + window,
    )
    return moved_q | wrong_reason


def _language_gap() -> Q:
    """The provider lists languages and none is the patient's preferred one.

    Providers are few (hundreds) and so are languages: the lists are read once here and
    the test becomes id membership, far cheaper per row than matching JSON text.
    """
    speaks: dict[str, list[int]] = {}
    listed: list[int] = []
    for provider_id, languages in Provider.objects.values_list("pk", "languages"):
        if languages:
            listed.append(provider_id)
            for code in languages:
                speaks.setdefault(str(code), []).append(provider_id)
    shared = Q(pk__in=[])
    for code, providers in speaks.items():
        shared |= Q(patient__preferred_language=code, provider_id__in=providers)
    return Q(provider_id__in=listed) & ~shared


def with_mismatch_flags(qs: QuerySet[Appointment]) -> QuerySet[Appointment]:
    """Annotate ``age_mismatch``, ``language_mismatch`` and ``wrong_provider`` (0 or 1).

    Age comes from the clear birth year (the date itself is encrypted): a visit in year Y
    is at age Y - birth year or one less, and only an age outside the provider's range
    for both counts as a mismatch. Both tests run the same on PostgreSQL and SQLite.
    """
    return qs.annotate(
        # The birth date is encrypted; the clear birth year bounds the age to one of two
        # whole-year values, and only an age outside the range either way is counted.
        oldest_age=ExtractYear("start") - F("patient__birth_year"),
    ).annotate(
        age_mismatch=flag(
            Q(oldest_age__lt=F("provider__min_patient_age"))
            | Q(oldest_age__gt=F("provider__max_patient_age") + 1)
        ),
        language_mismatch=flag(_language_gap()),
        wrong_provider=flag(Q(status__in=ENDED, cancel_reason=CancelReason.WRONG_PROVIDER)),
    )


MISMATCH_Q = Q(age_mismatch=1) | Q(language_mismatch=1) | Q(wrong_provider=1)


def accuracy_metrics(f: KpiFilters) -> list[Metric]:
    return accuracy_summary(f).metrics


@dataclass
class AccuracySummary:
    metrics: list[Metric]
    # Current period's mismatches by kind: age, language, wrong_provider.
    mismatch_kinds: dict[str, int]
    by_location: list[dict[str, Any]]


def accuracy_summary(f: KpiFilters, *, with_mismatch: bool = True) -> AccuracySummary:
    """The accuracy metrics, mismatches by kind and the per-location table, from one scan.

    ``with_mismatch=False`` leaves out the provider-patient mismatch, the one test that
    joins patients and providers: the overview shows the rest without paying for it.
    """
    # The same bookings the Access page counts (a reschedule's new half is not a new
    # booking), so every "bookings" total on a page agrees.
    created = appointments_scoped(f).filter(in_both("created_at", f), booking_q())
    if with_mismatch:
        created = with_mismatch_flags(created)
    else:
        zero = Value(0, output_field=IntegerField())
        created = created.annotate(age_mismatch=zero, language_mismatch=zero, wrong_provider=zero)
    # Each row's flags are computed once and the rows grouped by them (at most 32 groups):
    # written as FILTERed aggregates, PostgreSQL re-evaluated the age and language tests
    # inside every aggregate, which cost 3x on 100k rows.
    grouped = (
        created.annotate(
            in_current=flag(in_current("created_at", f)),
            wrong_location=flag(wrong_location_q(f.accuracy_days)),
        )
        .values(
            "in_current",
            "wrong_location",
            "age_mismatch",
            "language_mismatch",
            "location_id",
            "status",
        )
        .annotate(wrong_provider_flag=F("wrong_provider"), n=Count("id"))
        .values_list(
            "in_current",
            "wrong_location",
            "age_mismatch",
            "language_mismatch",
            "wrong_provider_flag",
            "location_id",
            "status",
            "n",
        )
        .order_by()
    )
    agg = dict.fromkeys(["cur", "prev", "wrong_cur", "wrong_prev", "mm_cur", "mm_prev"], 0)
    breakdown = {"age": 0, "language": 0, "wrong_provider": 0}
    per_location: dict[int, dict[str, int]] = {}
    for current, wrong, age, language, wrong_provider, location_id, status, n in grouped:
        period = "cur" if current else "prev"
        agg[period] += n
        agg[f"wrong_{period}"] += n if wrong else 0
        agg[f"mm_{period}"] += n if (age or language or wrong_provider) else 0
        if current:
            breakdown["age"] += n if age else 0
            breakdown["language"] += n if language else 0
            breakdown["wrong_provider"] += n if wrong_provider else 0
            row = per_location.setdefault(
                location_id,
                dict.fromkeys(["bookings", "wrong", "cancelled", "rescheduled", "no_show"], 0),
            )
            row["bookings"] += n
            row["wrong"] += n if wrong else 0
            if status in ("cancelled", "rescheduled", "no_show"):
                row[status] += n
    scheduled = appointments_scoped(f).filter(in_both("start", f))
    scur, sprev = in_current("start", f), in_previous("start", f)
    status_aggs: dict[str, Any] = {"all_cur": Count("id", filter=scur)}
    status_aggs["all_prev"] = Count("id", filter=sprev)
    for status in ("rescheduled", "cancelled", "no_show"):
        status_aggs[f"{status}_cur"] = Count("id", filter=scur & Q(status=status))
        status_aggs[f"{status}_prev"] = Count("id", filter=sprev & Q(status=status))
    sagg = scheduled.aggregate(**status_aggs)
    no_appts = no_source_note(
        bool(agg["cur"] or agg["prev"] or sagg["all_cur"] or sagg["all_prev"]),
        Appointment,
        "no appointments recorded.",
    )

    def status_metric(status: str, label: str, definition: str) -> Metric:
        return rate_metric(
            status,
            label,
            definition,
            sagg,
            numerator=status,
            denominator="all",
            drill=status,
            no_source=no_appts,
            lower_is_better=True,
        )

    metrics = [
        rate_metric(
            "wrong_location",
            "Wrong-location bookings",
            _wrong_location_definition(f.accuracy_days),
            agg,
            numerator="wrong",
            drill="wrong_location",
            no_source=no_appts,
            lower_is_better=True,
        ),
        rate_metric(
            "mismatch",
            "Provider-patient mismatches",
            DEF_MISMATCH,
            agg,
            numerator="mm",
            drill="mismatch",
            no_source=no_appts,
            lower_is_better=True,
        ),
        status_metric("rescheduled", "Reschedule rate", DEF_RESCHEDULE),
        status_metric("cancelled", "Cancel rate", DEF_CANCEL),
        status_metric("no_show", "No-show rate", DEF_NO_SHOW),
    ]
    if not with_mismatch:
        metrics = [m for m in metrics if m.key != "mismatch"]
    names = dict(Location.objects.filter(pk__in=per_location).values_list("pk", "name"))
    by_location: list[dict[str, Any]] = [
        {
            "location_id": location_id,
            "location": names.get(location_id, ""),
            **row,
            "wrong_rate": rate(row["wrong"], row["bookings"]),
        }
        for location_id, row in per_location.items()
    ]
    by_location.sort(key=lambda r: str(r["location"]))
    return AccuracySummary(metrics, breakdown, by_location)
