"""Access: calls, handle time, FCR, bookings by channel, automation, holds.

Every metric is computed for the selected period and the previous period of equal length
from a few grouped scans; the charts and tables derive from the same groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from scheduling.models import Appointment, Call, Hold

from ..filters import KpiFilters
from ..metrics import Metric, no_source_note, rate, rate_metric, seconds
from .calls import CALL_DURATION, FCR_ELIGIBLE, fcr_groups
from .scoping import (
    appointments_scoped,
    calls_scoped,
    holds_scoped,
    in_both,
    in_current,
    in_previous,
)

AUTOMATED_CHANNELS = [
    Appointment.Channel.API,
    Appointment.Channel.FHIR,
    Appointment.Channel.SELF,
    Appointment.Channel.LOCATION,
]

DEF_CALLS = "Calls started in the period."
DEF_BOOKINGS = (
    "Appointments created in the period, any channel; the new half of a reschedule is not a "
    "new booking."
)
DEF_FCR = (
    "Share of ended calls with a known patient and reason that were wrapped up as resolved "
    "(not transferred, no callback needed) and after which the same patient did not call "
    "again with the same reason within 7 days."
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


def booking_q() -> Q:
    return Q(rescheduled_from__isnull=True)


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
        .filter(in_both("started_at", f))
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

    calls = calls_scoped(f).filter(in_both("started_at", f))
    fcr_agg = dict.fromkeys(["base_cur", "base_prev", "ok_cur", "ok_prev"], 0)
    for current, not_resolved, n in fcr_groups(calls.filter(FCR_ELIGIBLE), f):
        period = "cur" if current else "prev"
        fcr_agg[f"base_{period}"] += n
        fcr_agg[f"ok_{period}"] += 0 if not_resolved else n
    booking_groups = (
        appointments_scoped(f)
        .filter(in_both("created_at", f), booking_q())
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
    holds = holds_scoped(f).filter(in_both("created_at", f))
    hcur, hprev = in_current("created_at", f), in_previous("created_at", f)
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
