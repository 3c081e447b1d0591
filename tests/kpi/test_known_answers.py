"""Every KPI computed on the hand-made network of conftest.py, against answers worked by hand.

The working is in the comments: which rows count, and why the others do not.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from billing.kpi import selectors as revenue
from integrations import kpi as integration
from scheduling.kpi import selectors
from scheduling.models import Slot

from .dataset import PERIOD

pytestmark = pytest.mark.django_db


def by_key(metrics):
    return {m.key: m for m in metrics}


def approx(value):
    return pytest.approx(value, abs=1e-6)


def test_access_metrics(kpi_net):
    m = by_key(selectors.access_metrics(PERIOD))

    # c1..c6 started 2 .. 9 March; the previous period has the two "recall" calls.
    assert (m["calls"].value, m["calls"].previous) == (6, 2)
    # Bookings: a1, a2, a3, a4, a6, a7; a5 is a reschedule's new half. Previous: b1, b2.
    assert (m["bookings"].value, m["bookings"].previous) == (6, 2)
    # FCR: c1..c4 qualify (c5 has no patient, c6 is still open); c1 was called back (c2)
    # -> 3 of 4. Previous: the 20 Feb call was called back exactly 7 days later -> 1 of 2.
    assert (m["fcr"].numerator, m["fcr"].denominator) == (3, 4)
    assert m["fcr"].value == approx(75.0)
    assert m["fcr"].previous == approx(50.0)
    # AHT over ended calls c1..c5: (300 + 100 + 200 + 400 + 600) / 5; previous (120+240)/2.
    assert m["aht"].value == approx(320.0)
    assert m["aht"].previous == approx(180.0)
    # Automation: a2 api, a3 self, a6 location, a7 fhir -> 4 of 6; previous b2 api -> 1 of 2.
    assert (m["automation"].numerator, m["automation"].denominator) == (4, 6)
    assert m["automation"].value == approx(400 / 6)
    assert m["automation"].previous == approx(50.0)
    # Holds: consumed, released, expired are finished; the live one is not -> 1 of 3.
    assert (m["hold_conversion"].numerator, m["hold_conversion"].denominator) == (1, 3)
    assert m["hold_conversion"].value == approx(100 / 3)
    assert m["hold_conversion"].previous is None  # no holds then: no number, not 0 %


def test_calls_by_agent_and_bookings_by_channel(kpi_net):
    summary = selectors.access_summary(PERIOD)
    agents = {r["agent_id"]: r for r in summary.agents}
    # agent.test: c1, c2, c5 ended (300 + 100 + 600) and c6 open; c1 booked.
    mine = agents[kpi_net.agent.pk]
    assert (mine["calls"], mine["booked"]) == (4, 1)
    assert mine["aht_seconds"] == approx(1000 / 3)
    theirs = agents[kpi_net.other_agent.pk]
    assert (theirs["calls"], theirs["aht_seconds"], theirs["booked_share"]) == (2, 300, 50)
    assert [r["agent_id"] for r in summary.agents] == [kpi_net.agent.pk, kpi_net.other_agent.pk]
    channels = {r["channel"]: r["bookings"] for r in summary.channels}
    assert channels == {"agent": 2, "api": 1, "self": 1, "location": 1, "fhir": 1}
    calls = dict(summary.calls_per_day)
    assert len(calls) == 10 and calls[date(2026, 3, 2)] == 1 and calls[date(2026, 3, 1)] == 0
    assert sum(n for _, n in summary.bookings_per_day) == 6


def test_accuracy_metrics(kpi_net):
    summary = selectors.accuracy_summary(PERIOD)
    m, kinds = by_key(summary.metrics), summary.mismatch_kinds

    # Bookings created in the period: a1..a7 less a5, the reschedule's new half (6, the
    # Access page's bookings total: one definition of a booking on every page).
    # Wrong location: a3 (cancelled "wrong provider" next day), a4 (moved from Aurora to
    # Boulder by a reschedule one day later). a7 was cancelled "wrong location" 22 days
    # after booking, outside the 14-day window.
    assert (m["wrong_location"].numerator, m["wrong_location"].denominator) == (2, 6)
    assert m["wrong_location"].value == approx(200 / 6)
    assert m["wrong_location"].previous == approx(50.0)  # b2: cancelled wrong location
    # Mismatches: a3 (a 5-year-old with an 18+ provider, and cancelled wrong provider),
    # a4 (Spanish-speaking patient, English-only provider). Previous: b2, same language gap.
    assert (m["mismatch"].numerator, m["mismatch"].denominator) == (2, 6)
    assert m["mismatch"].previous == approx(50.0)
    assert kinds == {"age": 1, "language": 1, "wrong_provider": 1}
    # Scheduled to start in the period: a2 no-show, a3 cancelled, a4 rescheduled, a5 done.
    for key in ("rescheduled", "cancelled", "no_show"):
        assert (m[key].numerator, m[key].denominator) == (1, 4), key
        assert m[key].value == approx(25.0)
    # Previous: b1 completed, b2 cancelled.
    assert m["cancelled"].previous == approx(50.0)
    assert m["no_show"].previous == approx(0.0)


def test_the_overview_variant_skips_only_the_mismatch_join(kpi_net):
    full = selectors.accuracy_summary(PERIOD).metrics
    light = selectors.accuracy_summary(PERIOD, with_mismatch=False).metrics
    assert [m.key for m in light] == [m.key for m in full if m.key != "mismatch"]
    assert {m.key: m.value for m in light} == {m.key: m.value for m in full if m.key != "mismatch"}


def test_a_wider_accuracy_window_takes_in_late_corrections(kpi_net):
    metrics = selectors.accuracy_summary(replace(PERIOD, accuracy_days=30)).metrics
    # With 30 days a7 (corrected after 22 days) counts too: a3, a4, a7.
    assert by_key(metrics)["wrong_location"].numerator == 3


def test_accuracy_by_location(kpi_net):
    rows = {r["location"]: r for r in selectors.accuracy_summary(PERIOD).by_location}
    # Aurora: a1, a4 (wrong: moved), a7 (cancelled, too late to count as wrong location).
    assert rows["Aurora"] == {
        "location_id": kpi_net.l1.pk,
        "location": "Aurora",
        "bookings": 3,
        "wrong": 1,
        "cancelled": 1,
        "rescheduled": 1,
        "no_show": 0,
        "wrong_rate": approx(100 / 3),
    }
    # Boulder: a2 (no-show), a3 (wrong provider); a5 is a reschedule's half; Chandler: a6.
    assert (rows["Boulder"]["bookings"], rows["Boulder"]["wrong"]) == (2, 1)
    assert rows["Boulder"]["no_show"] == 1
    assert rows["Chandler"]["bookings"] == 1


def test_capacity_metrics(kpi_net):
    m = by_key(selectors.capacity_metrics(PERIOD))

    # Bookable slots in the period: 5 (the blocked one is left out), 3 booked.
    assert (m["utilization"].numerator, m["utilization"].denominator) == (3, 5)
    assert m["utilization"].value == approx(60.0)
    assert m["utilization"].previous == approx(100.0)
    # Waitlist entries created in the period: booked, open, closed -> 1 of 3.
    assert m["waitlist_fill"].value == approx(100 / 3)
    assert m["waitlist_fill"].previous == approx(100.0)


def test_utilization_by_location_provider_and_day(kpi_net):
    by_loc = {r["location__name"]: r for r in selectors.utilization_by_location(PERIOD)}
    assert (by_loc["Aurora"]["booked"], by_loc["Aurora"]["slots"]) == (1, 2)
    assert by_loc["Boulder"]["utilization"] == approx(200 / 3)
    assert "Chandler" not in by_loc

    by_provider = {r["provider__last_name"]: r for r in selectors.utilization_by_provider(PERIOD)}
    assert by_provider["Adams"]["utilization"] == approx(50.0)
    assert by_provider["Baker"]["utilization"] == approx(200 / 3)

    by_day = {r["day"].day: r for r in selectors.utilization_by_day(PERIOD)}
    assert len(by_day) == 10  # every day of the period, empty ones included
    assert (by_day[2]["booked"], by_day[2]["slots"]) == (1, 2)
    assert by_day[4]["utilization"] == approx(100.0)
    assert by_day[5]["utilization"] == approx(0.0)
    assert by_day[3]["utilization"] is None  # only a blocked slot that day


def test_third_next_available(kpi_net):
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    net = kpi_net
    for hours, status in [(21, "free"), (21.5, "booked"), (46, "free"), (92, "free"), (93, "free")]:
        Slot.objects.create(
            provider=net.p1,
            location=net.l1,
            start=now + timedelta(hours=hours),
            end=now + timedelta(hours=hours, minutes=30),
            status=status,
        )
    for hours in (20, 30):
        Slot.objects.create(
            provider=net.p2,
            location=net.l2,
            start=now + timedelta(hours=hours),
            end=now + timedelta(hours=hours, minutes=30),
        )

    rows = {
        (r.appointment_type, r.location): r
        for r in selectors.third_next_available(replace(PERIOD, region_id=net.r1.pk), now=now)
    }

    # Aurora, cleaning: free at +21 h, +46 h, +92 h (the booked one is skipped) -> 92 h.
    aurora = rows[("Cleaning", "Aurora")]
    assert aurora.third_start == now + timedelta(hours=92)
    assert aurora.days_out == approx(92 / 24)
    # Boulder has two free slots only; no provider in the region does implants.
    assert rows[("Cleaning", "Boulder")].third_start is None
    assert "fewer than three" in rows[("Cleaning", "Boulder")].note
    assert "not offered" in rows[("Implant consult", "Aurora")].note
    assert ("Cleaning", "Chandler") not in rows  # other region


def test_revenue_metrics(kpi_net):
    m = by_key(revenue.revenue_metrics(PERIOD))

    # Eligibility answered: active, inactive, error (pending is not an answer) -> 2 of 3.
    assert (m["eligibility_failures"].numerator, m["eligibility_failures"].denominator) == (2, 3)
    assert m["eligibility_failures"].previous == approx(0.0)
    # Claims created: K1 clean, K2/K4/K5 denied, K3 has a scrubber finding -> 1 of 5 clean.
    assert (m["clean_claims"].numerator, m["clean_claims"].denominator) == (1, 5)
    assert m["clean_claims"].previous == approx(100.0)
    # Adjudicated: K1 paid; K2 denied (status and CLP02=4), K4 denied (status, CLP02=1 with
    # every line denied), K5 denied (status, no 835) -> 3 of 4.
    assert (m["denials"].numerator, m["denials"].denominator) == (3, 4)
    assert m["denials"].value == approx(75.0)
    assert m["denials"].previous == approx(0.0)
    # Days in A/R: K1 5 days (3 -> 8 March), K2 3 (6 -> 9), K4 4 (4 -> 8), K5 4 (5 -> 9);
    # previous K0 5 days.
    assert m["days_in_ar"].value == approx(4.0)
    assert m["days_in_ar"].previous == approx(5.0)
    # Lag: K1 2 days, K2 4, K3 3, K4 2, K5 2 after the date of service; previous 1 day.
    assert m["claim_lag"].value == approx(13 / 5)
    assert m["claim_lag"].previous == approx(1.0)


def test_revenue_breakdowns(kpi_net):
    payers = {r["name"]: r for r in revenue.denials_by(PERIOD, "payer")}
    assert (payers["Xylo Dental"]["denied"], payers["Xylo Dental"]["adjudicated"]) == (1, 2)
    assert payers["Yarrow Health"]["denial_rate"] == approx(100.0)
    locations = {r["name"]: r for r in revenue.denials_by(PERIOD, "location")}
    assert locations["Boulder"]["denial_rate"] == approx(100.0)
    assert locations["Aurora"]["denial_rate"] == approx(50.0)
    # Every denied claim has a reason row: K2's claim-level CO-197, K4's line-level CO-97
    # (two lines, one claim), K5 with no CAS. The table reconciles with the rate's 3.
    reasons = [(r["reason"], r["claims"], r["amount"]) for r in revenue.denials_by_reason(PERIOD)]
    assert reasons == [("CO-197", 1, 100), ("CO-97", 1, 100), ("unknown reason", 1, 100)]
    denied = revenue.revenue_metrics(PERIOD)[2]
    assert denied.key == "denials"
    assert sum(claims for _, claims, _ in reasons) == denied.numerator
    assert sum(r["denied"] for r in revenue.denials_by(PERIOD, "payer")) == denied.numerator
    assert sum(r["denied"] for r in revenue.denials_by(PERIOD, "location")) == denied.numerator
    ar = revenue.open_ar(PERIOD)
    assert ar["claims"] == 1 and ar["balance"] == 100  # K3, still submitted


def test_integration_metrics(kpi_net):
    m = by_key(integration.integration_metrics(PERIOD))

    assert (m["messages"].value, m["messages"].previous) == (7, 1)
    assert (m["message_failures"].value, m["message_failures"].previous) == (2, 0)
    # One dead ledger message plus one dead outbox event.
    assert (m["dead_letters"].value, m["dead_letters"].previous) == (2, 0)
    # Processed: 2 s, 4 s, 10 s.
    assert m["message_lag"].value == approx(16 / 3)
    assert m["message_lag"].previous == approx(1.0)


def test_connector_health(kpi_net):
    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    rows = {r["name"]: r for r in integration.connector_health(PERIOD, now=now)}
    aurora, boulder = rows["Aurora PMS"], rows["Boulder EHR"]
    assert (aurora["inbound"], aurora["outbound"], aurora["failures"], aurora["dead"]) == (
        4,
        0,
        2,
        0,
    )
    assert aurora["avg_lag_seconds"] == approx(3.0)
    assert aurora["max_lag_seconds"] == approx(4.0)
    assert aurora["backlog"] == 1  # the failed one, waiting for its retry
    assert aurora["backlog_age_seconds"] == approx(2 * 86_400)
    assert (boulder["throughput"], boulder["dead"], boulder["backlog"]) == (3, 1, 1)
    assert boulder["avg_lag_seconds"] == approx(10.0)
    outbox = {r["status"]: r for r in integration.outbox_summary(PERIOD)}
    assert outbox["dead"]["events"] == 1
    assert outbox["delivered"]["avg_lag_seconds"] == approx(30.0)


def test_filters_narrow_every_source(kpi_net):
    net = kpi_net
    aurora = replace(PERIOD, location_id=net.l1.pk)
    m = by_key(selectors.access_metrics(aurora))
    # Calls follow the patient's home location: only patient A lives near Aurora (c1, c2).
    assert m["calls"].value == 2
    assert m["bookings"].value == 3  # a1, a4, a7

    by_agent = by_key(selectors.access_metrics(replace(PERIOD, agent_id=net.agent.pk)))
    assert by_agent["calls"].value == 4  # c1, c2, c5, c6
    assert by_agent["bookings"].value == 1  # a1
    assert by_agent["automation"].value == approx(0.0)

    region2 = replace(PERIOD, region_id=net.r2.pk)
    assert by_key(selectors.access_metrics(region2))["bookings"].value == 1  # a6
    assert by_key(revenue.revenue_metrics(region2))["clean_claims"].value is None
    assert by_key(integration.integration_metrics(region2))["messages"].value == 0

    other_type = replace(PERIOD, appointment_type_id=net.t2.pk)
    assert by_key(selectors.access_metrics(other_type))["bookings"].value == 0


def test_sources_without_rows_say_so_instead_of_showing_numbers(db):
    metrics = (
        selectors.access_metrics(PERIOD)
        + selectors.accuracy_metrics(PERIOD)
        + selectors.capacity_metrics(PERIOD)
        + revenue.revenue_metrics(PERIOD)
        + integration.integration_metrics(PERIOD)
    )
    for metric in metrics:
        assert metric.no_source.startswith("No data yet"), metric.key


def test_schedule_fill_when_the_period_has_no_slots(kpi_net):
    """A past period without slots still shows how full the schedule ahead is."""
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    net = kpi_net
    for hours, status in [
        (-3, "booked"),  # already started: not ahead
        (2, "booked"),
        (26, "booked"),
        (50, "free"),
        (51, "blocked"),  # not bookable
        (13 * 24, "booked"),
        (14 * 24 + 1, "free"),  # beyond the 14-day window
    ]:
        Slot.objects.create(
            provider=net.p1,
            location=net.l1,
            start=now + timedelta(hours=hours),
            end=now + timedelta(hours=hours, minutes=30),
            status=status,
        )
    may = replace(PERIOD, date_from=date(2026, 5, 1), date_to=date(2026, 5, 30))
    m = by_key(selectors.capacity_metrics(may, now=now))
    assert m["utilization"].value is None
    assert "Schedule fill" in m["utilization"].no_source
    # Ahead of now: 3 booked of 4 bookable (the blocked, started and far slots left out).
    fill = m["schedule_fill"]
    assert (fill.numerator, fill.denominator) == (3, 4)
    assert fill.value == approx(75.0)
    assert fill.previous is None and not fill.no_source
    days = selectors.schedule_fill_by_day(may, now=now)
    assert days[0]["day"] == date(2026, 6, 1) and days[0]["utilization"] == approx(100.0)
    assert days[2]["utilization"] == approx(0.0)
    assert sum(d["slots"] for d in days) == 4
    # Another region's schedule is not this one's fill.
    other = replace(may, location_id=net.l2.pk)
    assert by_key(selectors.capacity_metrics(other, now=now))["schedule_fill"].denominator == 0


def test_days_in_ar_says_why_when_every_claim_was_adjudicated_the_day_it_was_created(kpi_net):
    from billing.models import Claim

    # Normal turnaround (K1 5 days, K2 3 ...): no caveat.
    assert not by_key(revenue.revenue_metrics(PERIOD))["days_in_ar"].note
    # Claims posted already adjudicated (as the demo seed does): the number stays, explained.
    for claim in Claim.objects.filter(adjudicated_at__isnull=False):
        claim.adjudicated_at = claim.created_at + timedelta(hours=1)
        claim.save(update_fields=["adjudicated_at"])
    m = by_key(revenue.revenue_metrics(PERIOD))["days_in_ar"]
    assert m.value is not None and m.value < 0.1
    assert "adjudicated the day it was created" in m.note
