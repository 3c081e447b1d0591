"""KPI reads for access, accuracy and capacity, aggregated in the database.

Every metric is computed for the selected period and the previous period of equal length
in ONE query: the rows of both periods are selected by an index range scan and split by
conditional aggregates (``Count(..., filter=...)``). No selector loops over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import (
    Lead,
    TruncDate,
)
from django.utils import timezone

from scheduling.models import (
    Appointment,
    AppointmentType,
    Call,
    CancelReason,
    Hold,
    Location,
    Provider,
    Slot,
    Waitlist,
)

from .filters import KpiFilters
from .metrics import Metric, no_source_note, rate, rate_metric, seconds

FCR_WINDOW = timedelta(days=7)
AUTOMATED_CHANNELS = [
    Appointment.Channel.API,
    Appointment.Channel.FHIR,
    Appointment.Channel.SELF,
    Appointment.Channel.LOCATION,
]
WRONG_BOOKING_REASONS = [CancelReason.WRONG_LOCATION, CancelReason.WRONG_PROVIDER]
ENDED = [Appointment.Status.CANCELLED, Appointment.Status.RESCHEDULED]
THIRD = 3

DEF_CALLS = "Calls started in the period."
DEF_BOOKINGS = (
    "Appointments created in the period, any channel; the new half of a reschedule is not a "
    "new booking."
)
DEF_FCR = (
    "Share of ended calls with a known patient and reason after which the same patient did "
    "not call again with the same reason within 7 days."
)
DEF_AHT = "Average of (ended minus started) over calls started in the period that have ended."
DEF_AUTOMATION = (
    "Share of bookings not made by an agent: partner API, FHIR scheduling, patient "
    "self-service or the location's own front desk (PMS)."
)
DEF_HOLD = (
    "Holds placed in the period that were consumed by a booking, out of holds that are "
    "finished (consumed, released or expired)."
)
DEF_CALL_SCOPE = (
    "Calls have no location of their own: location and region filters apply through the "
    "patient's home location; the appointment-type filter does not apply."
)


def _wrong_location_definition(days: int) -> str:
    return (
        f"Bookings created in the period that, within {days} days of booking, were moved by a "
        "reschedule to another location or cancelled/rescheduled with the reason “wrong "
        "location” or “wrong provider”. Rate = those ÷ bookings (reschedule halves included)."
    )


DEF_MISMATCH = (
    "Bookings created in the period where, on the appointment's date (UTC), the patient's age "
    "was outside the provider's age range, or the provider lists languages and none is the "
    "patient's preferred language, or the booking was later cancelled/rescheduled as “wrong "
    "provider”. Rate = those ÷ bookings."
)
DEF_RESCHEDULE = "Appointments scheduled to start in the period that were rescheduled."
DEF_CANCEL = "Appointments scheduled to start in the period that were cancelled."
DEF_NO_SHOW = "Appointments scheduled to start in the period where the patient did not come."
DEF_UTILIZATION = (
    "Booked slot units ÷ bookable slot units (free + booked; blocked excluded) for slots "
    "starting in the period. Slots exist for the materialized horizon only: pick a future "
    "range to see upcoming fill."
)
DEF_TNA = (
    "Days from now to the start of the third free slot at the location with a provider who "
    "has every capability the appointment type needs (locations lacking its equipment are "
    "left out). The industry's access measure: the first two openings are often chance "
    "cancellations. Counted in slot units: a visit longer than one unit may also need the "
    "following unit free. Always as of now; the date range does not apply."
)
DEF_WAITLIST = "Waitlist entries created in the period that ended in a booking."
SCHEDULE_FILL_DAYS = 14
DEF_SCHEDULE_FILL = (
    f"How full the upcoming schedule is: booked slot units ÷ bookable slot units (free + "
    f"booked; blocked excluded) for slots starting from now through the next "
    f"{SCHEDULE_FILL_DAYS} days. Always as of now; the date range, agent and appointment-type "
    f"filters do not apply, region and location do. No previous period: it looks forward."
)


# --- scoped base querysets -------------------------------------------------------------


def region_locations(region_id: int) -> list[int]:
    """A region as its location ids, read once (a few dozen rows).

    Filtering on location ids lets the scans stay index-only on the covering indexes and
    spares a join per row; for calls it spares joining locations behind the patients.
    """
    return list(Location.objects.filter(region_id=region_id).values_list("pk", flat=True))


_M = TypeVar("_M", bound=Model)


def scoped(
    qs: QuerySet[_M],
    f: KpiFilters,
    *,
    location: str,
    region: str = "",
    agent: str = "",
    appointment_type: str = "",
) -> QuerySet[_M]:
    """``qs`` narrowed by the page's filters, each through its own path on the model.

    Without a ``region`` path the region is read as its location ids (``region_locations``)
    and matched on ``location``; a filter without a path does not apply to the model.
    """
    if f.region_id:
        if region:
            qs = qs.filter(**{region: f.region_id})
        else:
            qs = qs.filter(**{f"{location}__in": region_locations(f.region_id)})
    if f.location_id:
        qs = qs.filter(**{location: f.location_id})
    if agent and f.agent_id:
        qs = qs.filter(**{agent: f.agent_id})
    if appointment_type and f.appointment_type_id:
        qs = qs.filter(**{appointment_type: f.appointment_type_id})
    return qs


def appointments_scoped(f: KpiFilters) -> QuerySet[Appointment]:
    return scoped(
        Appointment.objects.all(),
        f,
        location="location_id",
        agent="booked_by_id",
        appointment_type="appointment_type_id",
    )


def calls_scoped(f: KpiFilters) -> QuerySet[Call]:
    return scoped(Call.objects.all(), f, location="patient__home_location_id", agent="agent_id")


def holds_scoped(f: KpiFilters) -> QuerySet[Hold]:
    return scoped(Hold.objects.all(), f, location="slot__location_id", agent="held_by_id")


def slots_scoped(f: KpiFilters) -> QuerySet[Slot]:
    return scoped(Slot.objects.exclude(status=Slot.Status.BLOCKED), f, location="location_id")


def waitlist_scoped(f: KpiFilters) -> QuerySet[Waitlist]:
    qs = Waitlist.objects.all()
    if f.region_id:
        qs = qs.filter(
            Exists(
                Waitlist.locations.through.objects.filter(
                    waitlist_id=OuterRef("pk"),
                    location_id__in=region_locations(f.region_id),
                )
            )
        )
    if f.location_id:
        qs = qs.filter(
            Exists(
                Waitlist.locations.through.objects.filter(
                    waitlist_id=OuterRef("pk"), location_id=f.location_id
                )
            )
        )
    if f.appointment_type_id:
        qs = qs.filter(appointment_type_id=f.appointment_type_id)
    if f.agent_id:
        qs = qs.filter(created_by_id=f.agent_id)
    return qs


def in_period(field: str, f: KpiFilters) -> Q:
    return Q(**{f"{field}__gte": f.start, f"{field}__lt": f.end})


def _span(field: str, f: KpiFilters) -> Q:
    """Both periods: the previous one and the selected one."""
    return Q(**{f"{field}__gte": f.prev_start, f"{field}__lt": f.end})


def _cur(field: str, f: KpiFilters) -> Q:
    return Q(**{f"{field}__gte": f.start})


def _prev(field: str, f: KpiFilters) -> Q:
    return Q(**{f"{field}__lt": f.start})


# --- expressions shared with the drill-downs ----------------------------------------------

CALL_DURATION = ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField())
FCR_ELIGIBLE = Q(patient__isnull=False, ended_at__isnull=False) & ~Q(reason="")


def callback_exists() -> Exists:
    """Another call by the same patient with the same reason within 7 days after this one.

    The drill-down lists calls with it (a page at a time, each probe one lookup in the
    (patient, reason, started_at) index); the metric itself uses ``fcr_groups``.
    """
    return Exists(
        Call.objects.filter(
            patient_id=OuterRef("patient_id"),
            reason=OuterRef("reason"),
            started_at__gt=OuterRef("started_at"),
            started_at__lte=OuterRef("started_at") + FCR_WINDOW,
        )
    )


def fcr_groups(eligible: QuerySet[Call], f: KpiFilters) -> list[tuple[int, int, int]]:
    """(in current period, called back, calls) groups for the FCR-eligible calls given.

    The next call of each (patient, reason) comes from one window pass (LEAD) over every
    call of both periods plus the 7 days after: callbacks count whoever took them, so the
    window ignores the page's scope, which applies to the calls being judged. One sort of
    ~40k rows replaced one index probe per call (about 3x the time on 1.3M rows). A call
    counts as called back when the next call is strictly later and at most 7 days later.
    """
    following = (
        Call.objects.filter(
            patient__isnull=False, started_at__gte=f.prev_start, started_at__lt=f.end + FCR_WINDOW
        )
        .annotate(
            next_start=Window(
                Lead("started_at"),
                partition_by=[F("patient_id"), F("reason")],
                order_by=[F("started_at").asc(), F("id").asc()],
            ),
            deadline=ExpressionWrapper(F("started_at") + FCR_WINDOW, output_field=DateTimeField()),
        )
        .values("id", "started_at", "next_start", "deadline")
        .order_by()
    )
    judged = eligible.annotate(in_current=_flag(_cur("started_at", f))).values("id", "in_current")
    judged_sql, judged_params = judged.order_by().query.sql_with_params()
    following_sql, following_params = following.query.sql_with_params()
    # Both inner statements come from the ORM with their parameters kept apart; nothing
    # here is user text.
    judge = (
        "SELECT j.in_current, CASE WHEN n.next_start > n.started_at "
        "AND n.next_start <= n.deadline THEN 1 ELSE 0 END AS called_back, COUNT(*) "
    )
    join = f"FROM ({judged_sql}) j INNER JOIN ({following_sql}) n ON n.id = j.id"
    sql = f"{judge}{join} GROUP BY 1, 2"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*judged_params, *following_params])
        return [(int(a), int(b), int(c)) for a, b, c in cursor.fetchall()]


def booking_q() -> Q:
    return Q(rescheduled_from__isnull=True)


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


class AgeYears(Func):
    """Whole years between two dates: ``AgeYears(later, earlier)``.

    PostgreSQL's age() does the calendar arithmetic in C; SQLite compares the dates as
    YYYYMMDD integers, whose difference divided by 10000 is the same whole-year count.
    """

    output_field = IntegerField()
    arity = 2

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="CAST(date_part('year', age(%(expressions)s)) AS integer)",
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        later, later_params = compiler.compile(self.source_expressions[0])
        earlier, earlier_params = compiler.compile(self.source_expressions[1])
        sql = (
            f"((CAST(strftime('%%Y%%m%%d', {later}) AS integer)"
            f" - CAST(strftime('%%Y%%m%%d', {earlier}) AS integer)) / 10000)"
        )
        return sql, [*later_params, *earlier_params]


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

    Age is in whole years on the appointment's UTC date; both tests run the same on
    PostgreSQL and SQLite.
    """
    return qs.annotate(
        age_at_visit=AgeYears(TruncDate("start"), F("patient__date_of_birth")),
    ).annotate(
        age_mismatch=_flag(
            Q(age_at_visit__lt=F("provider__min_patient_age"))
            | Q(age_at_visit__gt=F("provider__max_patient_age"))
        ),
        language_mismatch=_flag(_language_gap()),
        wrong_provider=_flag(Q(status__in=ENDED, cancel_reason=CancelReason.WRONG_PROVIDER)),
    )


def _flag(condition: Q) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


MISMATCH_Q = Q(age_mismatch=1) | Q(language_mismatch=1) | Q(wrong_provider=1)


# --- Access ---------------------------------------------------------------------------------


@dataclass
class AccessSummary:
    metrics: list[Metric]
    calls_per_day: list[tuple[date, int]]
    bookings_per_day: list[tuple[date, int]]
    channels: list[dict[str, Any]]
    agents: list[dict[str, Any]]


def access_metrics(f: KpiFilters) -> list[Metric]:
    return access_summary(f).metrics


def _days(f: KpiFilters) -> list[date]:
    return [f.date_from + timedelta(days=i) for i in range(f.days)]


def access_summary(f: KpiFilters) -> AccessSummary:
    """Access metrics, the daily series and the channel mix from four scans.

    Calls and bookings are each grouped once by UTC day (and channel) over both periods;
    counts, handle-time sums, the charts and the channel table all derive from those few
    hundred groups rather than from one scan each.
    """
    ended = Q(ended_at__isnull=False)
    call_days = (
        calls_scoped(f)
        .filter(_span("started_at", f))
        .annotate(day=TruncDate("started_at"))
        .values("day", "agent_id")
        .annotate(
            n=Count("id"),
            n_ended=Count("id", filter=ended),
            talk=Sum(CALL_DURATION, filter=ended),
            n_booked=Count("id", filter=Q(outcome=Call.Outcome.BOOKED)),
        )
        .values_list("day", "agent_id", "n", "n_ended", "talk", "n_booked")
        .order_by()
    )
    calls_by_day: dict[date, int] = {}
    call_agg = {"calls_cur": 0, "calls_prev": 0, "ended_cur": 0, "ended_prev": 0}
    talk = {"cur": 0.0, "prev": 0.0}
    per_agent: dict[int, dict[str, float]] = {}
    for day, agent_id, n, n_ended, total, n_booked in call_days:
        period = "cur" if day >= f.date_from else "prev"
        call_agg[f"calls_{period}"] += n
        call_agg[f"ended_{period}"] += n_ended
        talk[period] += seconds(total) or 0.0
        if period == "cur":
            calls_by_day[day] = calls_by_day.get(day, 0) + n
            row = per_agent.setdefault(
                agent_id, dict.fromkeys(["calls", "ended", "talk", "booked"], 0)
            )
            row["calls"] += n
            row["ended"] += n_ended
            row["talk"] += seconds(total) or 0.0
            row["booked"] += n_booked
    agent_names = {
        u.pk: u.get_full_name() or u.get_username()
        for u in User.objects.filter(pk__in=per_agent).only("username", "first_name", "last_name")
    }
    agents: list[dict[str, Any]] = sorted(
        (
            {
                "agent_id": agent_id,
                "agent": agent_names.get(agent_id, ""),
                "calls": int(row["calls"]),
                "aht_seconds": row["talk"] / row["ended"] if row["ended"] else None,
                "booked": int(row["booked"]),
                "booked_share": rate(int(row["booked"]), int(row["calls"])),
            }
            for agent_id, row in per_agent.items()
        ),
        key=lambda r: (-int(r["calls"]), str(r["agent"])),
    )

    def aht(period: str) -> float | None:
        ended_calls = call_agg[f"ended_{period}"]
        return talk[period] / ended_calls if ended_calls else None

    calls = calls_scoped(f).filter(_span("started_at", f))
    fcr_agg = dict.fromkeys(["base_cur", "base_prev", "ok_cur", "ok_prev"], 0)
    for current, called_back, n in fcr_groups(calls.filter(FCR_ELIGIBLE), f):
        period = "cur" if current else "prev"
        fcr_agg[f"base_{period}"] += n
        fcr_agg[f"ok_{period}"] += 0 if called_back else n
    booking_groups = (
        appointments_scoped(f)
        .filter(_span("created_at", f), booking_q())
        .annotate(day=TruncDate("created_at"))
        .values("day", "channel")
        .annotate(n=Count("id"))
        .values_list("day", "channel", "n")
        .order_by()
    )
    book_agg = {"cur": 0, "prev": 0, "auto_cur": 0, "auto_prev": 0}
    bookings_by_day: dict[date, int] = {}
    by_channel: dict[str, int] = {}
    for day, channel, n in booking_groups:
        period = "cur" if day >= f.date_from else "prev"
        book_agg[period] += n
        if channel in AUTOMATED_CHANNELS:
            book_agg[f"auto_{period}"] += n
        if period == "cur":
            bookings_by_day[day] = bookings_by_day.get(day, 0) + n
            by_channel[channel] = by_channel.get(channel, 0) + n
    labels = dict(Appointment.Channel.choices)
    channels = [
        {
            "channel": channel,
            "label": labels.get(channel, channel),
            "bookings": n,
            "share": rate(n, book_agg["cur"]),
        }
        for channel, n in sorted(by_channel.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    now = timezone.now()
    finished = Q(consumed_at__isnull=False) | Q(released_at__isnull=False) | Q(expires_at__lte=now)
    consumed = Q(consumed_at__isnull=False)
    holds = holds_scoped(f).filter(_span("created_at", f))
    hcur, hprev = _cur("created_at", f), _prev("created_at", f)
    hold_agg = holds.aggregate(
        done_cur=Count("id", filter=hcur & finished),
        done_prev=Count("id", filter=hprev & finished),
        ok_cur=Count("id", filter=hcur & consumed),
        ok_prev=Count("id", filter=hprev & consumed),
    )
    no_calls = no_source_note(
        bool(call_agg["calls_cur"] or call_agg["calls_prev"]), Call, "no calls recorded."
    )
    no_appts = no_source_note(
        bool(book_agg["cur"] or book_agg["prev"]), Appointment, "no appointments recorded."
    )
    no_holds = no_source_note(
        bool(hold_agg["done_cur"] or hold_agg["done_prev"] or hold_agg["ok_cur"]),
        Hold,
        "no holds placed.",
    )
    metrics = [
        Metric(
            "calls",
            "Calls",
            f"{DEF_CALLS} {DEF_CALL_SCOPE}",
            "count",
            call_agg["calls_cur"],
            call_agg["calls_prev"],
            drill="calls",
            no_source=no_calls,
        ),
        Metric(
            "bookings",
            "Bookings",
            DEF_BOOKINGS,
            "count",
            book_agg["cur"],
            book_agg["prev"],
            drill="bookings",
            no_source=no_appts,
        ),
        rate_metric(
            "fcr",
            "First-call resolution",
            f"{DEF_FCR} {DEF_CALL_SCOPE}",
            fcr_agg,
            numerator="ok",
            denominator="base",
            drill="fcr_callbacks",
            no_source=no_calls,
        ),
        Metric(
            "aht",
            "Average handle time",
            f"{DEF_AHT} {DEF_CALL_SCOPE}",
            "seconds",
            aht("cur"),
            aht("prev"),
            drill="calls",
            no_source=no_calls,
            lower_is_better=True,
        ),
        rate_metric(
            "automation",
            "Automation share",
            DEF_AUTOMATION,
            book_agg,
            numerator="auto",
            drill="automated_bookings",
            no_source=no_appts,
        ),
        rate_metric(
            "hold_conversion",
            "Hold-to-book conversion",
            f"{DEF_HOLD} Location, region and agent filters apply.",
            hold_agg,
            numerator="ok",
            denominator="done",
            drill="holds",
            no_source=no_holds,
        ),
    ]
    return AccessSummary(
        metrics=metrics,
        calls_per_day=[(day, calls_by_day.get(day, 0)) for day in _days(f)],
        bookings_per_day=[(day, bookings_by_day.get(day, 0)) for day in _days(f)],
        channels=channels,
        agents=agents,
    )


# --- Accuracy -------------------------------------------------------------------------------


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
    created = appointments_scoped(f).filter(_span("created_at", f))
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
            in_current=_flag(_cur("created_at", f)),
            wrong_location=_flag(wrong_location_q(f.accuracy_days)),
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
    scheduled = appointments_scoped(f).filter(_span("start", f))
    scur, sprev = _cur("start", f), _prev("start", f)
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


# --- Capacity -------------------------------------------------------------------------------

BOOKED = Q(status=Slot.Status.BOOKED)


def schedule_fill_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return now, now + timedelta(days=SCHEDULE_FILL_DAYS)


def schedule_fill_by_day(f: KpiFilters, now: datetime | None = None) -> list[dict[str, Any]]:
    """Fill of the upcoming schedule per (UTC) day, every day of the window included."""
    start, end = schedule_fill_window(now)
    rows = {
        r["day"]: r
        for r in _utilization_rows(
            slots_scoped(f)
            .filter(start__gte=start, start__lt=end)
            .annotate(day=TruncDate("start"))
            .values("day")
            .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
            .order_by("day")
        )
    }
    first = start.date()
    return [
        rows.get(day) or {"day": day, "slots": 0, "booked": 0, "utilization": None}
        for day in (first + timedelta(days=i) for i in range((end.date() - first).days + 1))
    ]


def capacity_metrics(f: KpiFilters, now: datetime | None = None) -> list[Metric]:
    slots = slots_scoped(f).filter(_span("start", f))
    cur, prev = _cur("start", f), _prev("start", f)
    agg = slots.aggregate(
        cur=Count("id", filter=cur),
        prev=Count("id", filter=prev),
        booked_cur=Count("id", filter=cur & BOOKED),
        booked_prev=Count("id", filter=prev & BOOKED),
    )
    fill_start, fill_end = schedule_fill_window(now)
    fill = (
        slots_scoped(f)
        .filter(start__gte=fill_start, start__lt=fill_end)
        .aggregate(slots=Count("id"), booked=Count("id", filter=BOOKED))
    )
    waitlist = waitlist_scoped(f).filter(_span("created_at", f))
    wcur, wprev = _cur("created_at", f), _prev("created_at", f)
    filled = Q(status=Waitlist.Status.BOOKED)
    wagg = waitlist.aggregate(
        cur=Count("id", filter=wcur),
        prev=Count("id", filter=wprev),
        ok_cur=Count("id", filter=wcur & filled),
        ok_prev=Count("id", filter=wprev & filled),
    )
    no_wait = no_source_note(bool(wagg["cur"] or wagg["prev"]), Waitlist, "no waitlist entries.")
    found = bool(agg["cur"] or agg["prev"] or fill["slots"])
    no_slots = no_source_note(found, Slot, "no slots materialized.")
    if not no_slots and not agg["cur"]:
        # Slots are materialized forward from the day they were generated, so a past
        # period usually has none: say so and point at the forward-looking figure.
        no_slots = (
            "No bookable slots start in this period (slots are materialized for the schedule "
            "ahead, not kept for the past). See Schedule fill for the upcoming "
            f"{SCHEDULE_FILL_DAYS} days, or pick a future date range."
        )
    return [
        rate_metric(
            "utilization",
            "Slot utilization",
            f"{DEF_UTILIZATION} Agent and appointment-type filters do not apply to slots.",
            agg,
            numerator="booked",
            drill="booked_slots",
            no_source=no_slots,
        ),
        Metric(
            "schedule_fill",
            f"Schedule fill, next {SCHEDULE_FILL_DAYS} days",
            DEF_SCHEDULE_FILL,
            "percent",
            rate(fill["booked"], fill["slots"]),
            None,
            numerator=fill["booked"],
            denominator=fill["slots"],
            drill="upcoming_slots",
            no_source="" if fill["slots"] else no_source_note(found, Slot, "no slots ahead."),
        ),
        rate_metric(
            "waitlist_fill",
            "Waitlist fill rate",
            DEF_WAITLIST,
            wagg,
            numerator="ok",
            drill="waitlist",
            no_source=no_wait,
        ),
    ]


def _utilization_rows(rows: QuerySet[Any]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        r = dict(r)
        r["utilization"] = rate(r["booked"], r["slots"])
        out.append(r)
    return out


def utilization_by_location(f: KpiFilters) -> list[dict[str, Any]]:
    return _utilization_rows(
        slots_scoped(f)
        .filter(in_period("start", f))
        .values("location_id", "location__name")
        .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
        .order_by("location__name")
    )


def utilization_by_provider(f: KpiFilters) -> list[dict[str, Any]]:
    return _utilization_rows(
        slots_scoped(f)
        .filter(in_period("start", f))
        .values("provider_id", "provider__last_name", "provider__first_name")
        .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
        .order_by("provider__last_name", "provider__first_name", "provider_id")
    )


def utilization_by_day(f: KpiFilters) -> list[dict[str, Any]]:
    rows = {
        r["day"]: r
        for r in _utilization_rows(
            slots_scoped(f)
            .filter(in_period("start", f))
            .annotate(day=TruncDate("start"))
            .values("day")
            .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
            .order_by("day")
        )
    }
    return [
        rows.get(day) or {"day": day, "slots": 0, "booked": 0, "utilization": None}
        for day in (f.date_from + timedelta(days=i) for i in range(f.days))
    ]


@dataclass
class ThirdAvailable:
    location_id: int
    location: str
    appointment_type_id: int
    appointment_type: str
    third_start: datetime | None
    days_out: float | None
    note: str = ""
    # The location's IANA zone, so the page shows the slot in the location's own time.
    time_zone: str = ""


def capable_providers(types: list[AppointmentType]) -> dict[int, set[int]]:
    """Providers holding every capability each type requires: two small M2M reads."""
    required: dict[int, set[int]] = {t.pk: set() for t in types}
    for type_id, cap_id in AppointmentType.required_capabilities.through.objects.filter(
        appointmenttype_id__in=required
    ).values_list("appointmenttype_id", "capability_id"):
        required[type_id].add(cap_id)
    has: dict[int, set[int]] = {}
    for provider_id, cap_id in Provider.capabilities.through.objects.filter(
        provider__active=True
    ).values_list("provider_id", "capability_id"):
        has.setdefault(provider_id, set()).add(cap_id)
    for provider_id in Provider.objects.filter(active=True).values_list("pk", flat=True):
        has.setdefault(provider_id, set())
    return {
        type_id: {p for p, caps in has.items() if needs <= caps}
        for type_id, needs in required.items()
    }


def third_next_available(f: KpiFilters, now: datetime | None = None) -> list[ThirdAvailable]:
    now = now or timezone.now()
    types = list(AppointmentType.objects.filter(active=True).order_by("name"))
    if f.appointment_type_id:
        types = [t for t in types if t.pk == f.appointment_type_id]
    locations = Location.objects.filter(active=True)
    if f.region_id:
        locations = locations.filter(region_id=f.region_id)
    if f.location_id:
        locations = locations.filter(pk=f.location_id)
    locs = list(locations.order_by("name"))
    if not types or not locs:
        return []
    capable = capable_providers(types)
    loc_equipment: dict[int, set[int]] = {loc.pk: set() for loc in locs}
    for loc_id, eq_id in Location.equipment.through.objects.filter(
        location_id__in=loc_equipment
    ).values_list("location_id", "equipment_id"):
        loc_equipment[loc_id].add(eq_id)
    type_equipment: dict[int, set[int]] = {t.pk: set() for t in types}
    for type_id, eq_id in AppointmentType.required_equipment.through.objects.filter(
        appointmenttype_id__in=type_equipment
    ).values_list("appointmenttype_id", "equipment_id"):
        type_equipment[type_id].add(eq_id)
    served: dict[int, set[int]] = {loc.pk: set() for loc in locs}
    for provider_id, loc_id in Provider.locations.through.objects.filter(
        location_id__in=served
    ).values_list("provider_id", "location_id"):
        served[loc_id].add(provider_id)

    results: list[ThirdAvailable] = []
    for appt_type in types:
        # One query per visit type: per location, the third free start among capable
        # providers, found by an index scan on (location, status, start) that stops early.
        wanted = [
            loc.pk
            for loc in locs
            if type_equipment[appt_type.pk] <= loc_equipment[loc.pk]
            and capable[appt_type.pk] & served[loc.pk]
        ]
        thirds: dict[int, datetime | None] = {}
        if wanted:
            third = (
                Slot.objects.filter(
                    location_id=OuterRef("pk"),
                    status=Slot.Status.FREE,
                    start__gte=now,
                    provider_id__in=sorted(capable[appt_type.pk]),
                )
                .order_by("start")
                .values("start")[THIRD - 1 : THIRD]
            )
            thirds = dict(
                Location.objects.filter(pk__in=wanted)
                .annotate(third=Subquery(third))
                .values_list("pk", "third")
            )
        for loc in locs:
            start = thirds.get(loc.pk)
            if loc.pk not in wanted:
                note = "not offered here (equipment or capability)"
            elif start is None:
                note = "fewer than three free slots in the horizon"
            else:
                note = ""
            results.append(
                ThirdAvailable(
                    location_id=loc.pk,
                    location=loc.name,
                    appointment_type_id=appt_type.pk,
                    appointment_type=appt_type.name,
                    third_start=start,
                    days_out=(start - now).total_seconds() / 86_400 if start else None,
                    note=note,
                    time_zone=loc.time_zone,
                )
            )
    return results
