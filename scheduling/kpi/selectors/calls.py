"""First-call resolution: which calls were followed by another about the same thing."""

from __future__ import annotations

from datetime import timedelta

from django.db import connections, router
from django.db.models import (
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import Lead

from scheduling.models import Call

from ..filters import KpiFilters
from .scoping import flag, in_current

FCR_WINDOW = timedelta(days=7)

CALL_DURATION = ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField())
FCR_ELIGIBLE = Q(patient__isnull=False, ended_at__isnull=False) & ~Q(reason="")
# Wrap-up outcomes that say the call did not resolve the matter, whatever happens next.
UNRESOLVED_OUTCOMES = (Call.Outcome.TRANSFERRED, Call.Outcome.CALLBACK)
UNRESOLVED = Q(outcome__in=UNRESOLVED_OUTCOMES)


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
    """(in current period, not resolved, calls) groups for the FCR-eligible calls given.

    A call is not resolved when its wrap-up says so (transferred, callback needed) or
    when the patient called back about the same thing (below).

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
    judged = eligible.annotate(
        in_current=flag(in_current("started_at", f)), unresolved=flag(UNRESOLVED)
    ).values("id", "in_current", "unresolved")
    judged_sql, judged_params = judged.order_by().query.sql_with_params()
    following_sql, following_params = following.query.sql_with_params()
    # Both inner statements come from the ORM with their parameters kept apart; nothing
    # here is user text.
    judge = (
        "SELECT j.in_current, CASE WHEN j.unresolved = 1 OR (n.next_start > n.started_at "
        "AND n.next_start <= n.deadline) THEN 1 ELSE 0 END AS not_resolved, COUNT(*) "
    )
    join = f"FROM ({judged_sql}) j INNER JOIN ({following_sql}) n ON n.id = j.id"
    sql = f"{judge}{join} GROUP BY 1, 2"
    # Raw SQL bypasses the router: ask it where the ORM would have read.
    with connections[router.db_for_read(Call)].cursor() as cursor:
        cursor.execute(sql, [*judged_params, *following_params])
        return [(int(a), int(b), int(c)) for a, b, c in cursor.fetchall()]
