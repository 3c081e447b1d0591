"""The wallboard and KPI · Hubs: per hub, queue, agents, service level, ASA,
abandonment and overflow; live by background polling; CSV and drill-downs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.hubs import events as ev
from scheduling.hubs.events import CallEvent
from scheduling.models import Presence
from tests.scheduling.hub_world import NORTH_LINE, hubs, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def day():
    """North: one call answered after 10 s, one after 50 s, one abandoned, one waiting."""
    w = hubs()
    now = timezone.now()
    alice = staff(w.north, "alice", state=Presence.AWAY)

    def apply(kind, sid, seconds_ago, **kw):
        at = now - timedelta(seconds=seconds_ago)
        services.hub_call_event_apply(event=CallEvent(kind, sid, at, dialed=NORTH_LINE, **kw))

    for sid, offered, answered in (("A", 300, 290), ("B", 200, 150)):
        apply(ev.OFFERED, sid, offered, caller="3035550100")
        apply(ev.ANSWERED, sid, answered, agent="alice")
        apply(ev.ENDED, sid, answered - 60)
    apply(ev.OFFERED, "C", 120, caller="3035550101")
    apply(ev.ABANDONED, "C", 100)
    apply(ev.OFFERED, "D", 40, caller="3035550102")
    services.presence_set(user=alice, state=Presence.AWAY)
    return w


def test_the_wallboard_shows_each_hubs_figures(client, ops_manager, day):
    client.force_login(ops_manager)
    response = client.get("/kpi/wallboard/")
    html = response.content.decode()
    assert response.status_code == 200
    row = html[html.index('data-hub="North"') :]
    row = row[: row.index("</tr>")]
    assert '<td class="waiting">1</td>' in row
    assert '<td class="offered">4</td>' in row
    assert '<td class="answered">2</td>' in row
    assert '<td class="sl">33%</td>' in row  # 1 of 3 finished calls within 30 s
    assert '<td class="asa">0:30</td>' in row  # (10 + 50) / 2
    assert '<td class="abandoned">1 (33%)</td>' in row
    assert '<td class="agents-away">1</td>' in row
    assert "3035550100" not in html


def test_the_wallboard_polls_in_the_background(client, ops_manager, day):
    client.force_login(ops_manager)
    html = client.get("/kpi/wallboard/").content.decode()
    assert """hx-headers='{"X-Hub-Background": "1"}'""" in html
    partial = client.get("/kpi/wallboard/", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<table class="grid" id="wallboard">')


def test_agents_cannot_open_the_wallboard(client, agent):
    client.force_login(agent)
    assert client.get("/kpi/wallboard/").status_code == 403


def test_kpi_hubs_page_has_the_measures_a_csv_and_the_calls_behind_them(client, ops_manager, day):
    client.force_login(ops_manager)
    html = client.get("/kpi/hubs/").content.decode()
    assert "Service level (30 s)" in html and "Average speed of answer" in html
    csv = client.get("/kpi/hubs/", {"export": "by_hub"}).content.decode()
    north = next(line for line in csv.splitlines() if line.startswith("North"))
    assert north.split(",")[1:6] == ["4", "2", "33.3333", "30.0", "33.3333"], north
    drill = client.get("/kpi/drill/hub_calls/", {"hub": day.north.pk}).content.decode()
    assert drill.count("<tr") >= 5  # header and four calls
    assert "3035550100" not in drill
