"""The sandbox plays hours of calls through the signed webhook into the hubs: the same
day with overflow on and off, measured by the wallboard's own selector."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.telephony import twilio
from integrations.telephony.sandbox import SandboxTelephony, sandbox_day
from scheduling.hubs.simulate import HubPlan, simulate
from scheduling.hubs.traffic import PlannedCall, RegionTraffic, day_of_calls
from scheduling.models import Hub, HubCall, Presence, RoutingDecision
from scheduling.selectors.hubs import hub_measures
from tests.scheduling.hub_world import NORTH_LINE, SOUTH_LINE, T0, hubs, staff

pytestmark = pytest.mark.django_db
URL = "/integrations/telephony/events/"
TOKEN = "sandbox-day-token"
HOURS = 1.0
# North's callers need two agents busy all the time; it has two. South is quiet.
TRAFFIC = {
    "north": RegionTraffic(calls_per_hour=30, handle_seconds=240),
    "south": RegionTraffic(calls_per_hour=8, handle_seconds=240),
}


def play(client, calls: list[PlannedCall]) -> tuple[float | None, int]:
    w = hubs()
    Hub.objects.update(overflow_after_seconds=20)
    for i in range(2):
        staff(w.north, f"north{i}", idle_since=T0 - timedelta(hours=1))
    for i in range(3):
        staff(w.south, f"south{i}", idle_since=T0 - timedelta(hours=1))

    def transport(params: dict[str, str], signature: str) -> int:
        headers = {twilio.SIGNATURE_HEADER: signature}
        return client.post(URL, params, headers=headers).status_code

    phone = SandboxTelephony(url=f"http://testserver{URL}", transport=transport, auth_token=TOKEN)
    counts = sandbox_day(
        phone, calls, lines={"north": NORTH_LINE, "south": SOUTH_LINE}, opens_at=T0
    )
    assert counts["offered"] == len(calls) == counts["answered"]
    board = hub_measures(hub=w.north, start=T0, end=T0 + timedelta(days=1), now=T0)
    assert board.offered == sum(c.region == "north" for c in calls)
    assert HubCall.objects.filter(state=HubCall.State.ENDED).count() == len(calls)
    assert not HubCall.objects.exclude(agent__presence__state=Presence.AVAILABLE).exists()
    return board.service_level, RoutingDecision.objects.filter(kind="overflowed").count()


def test_a_sandbox_day_through_the_webhook_overflows_the_busy_hub(client, settings):
    settings.TELEPHONY_AUTH_TOKEN = TOKEN
    calls = day_of_calls(TRAFFIC, hours=HOURS, seed=0)
    on, overflowed = play(client, calls)
    assert overflowed > 0
    assert on is not None and on >= 0.8
    # The in-memory simulation runs the same policy on the same calls (and is held to
    # Erlang C elsewhere): the database path agrees with it, and without overflow the
    # hour is clearly worse.
    plans = [
        HubPlan("North", 2, ("north",), overflow_to="South", overflow_after_seconds=20),
        HubPlan("South", 3, ("south",), overflow_to="North", overflow_after_seconds=20),
    ]
    assert on == pytest.approx(simulate(plans, calls)["North"].service_level, abs=0.05)
    off = simulate(plans, calls, overflow=False)["North"].service_level
    assert on - off >= 0.3
