"""The KPI pages as their users meet them: who may see them, what they show, what they export."""

from __future__ import annotations

import csv
import io
import re

import pytest

from config.models import AuditEntry as LogEntry
from scheduling.kpi.filters import ERROR_RANGE_ORDER
from scheduling.kpi.registry import DRILLS

from .dataset import PERIOD

pytestmark = pytest.mark.django_db

PAGES = ["/kpi/", "/kpi/access/", "/kpi/accuracy/", "/kpi/capacity/", "/kpi/revenue/"]
PAGES += ["/kpi/integrations/", "/kpi/drill/calls/"]
Q = PERIOD.query()


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("url", PAGES)
def test_ops_managers_see_every_page(client, ops_manager, url):
    client.force_login(ops_manager)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", PAGES)
def test_agents_and_billers_are_refused(client, agent, biller, url):
    for user in (agent, biller):
        client.force_login(user)
        assert client.get(url).status_code == 403


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/kpi/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_admins_see_the_pages(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/kpi/accuracy/").status_code == 200


def test_the_overview_shows_numbers_definitions_and_trend(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    html = client.get(f"/kpi/?{Q}").content.decode()

    assert "First-call resolution" in html
    assert "75.0 %" in html and "3 of 4" in html  # FCR, worked out in test_known_answers
    assert "previous: 50.0 %" in html and "+25.0 pts" in html
    assert "did not call again with the same reason within 7 days" in html  # the definition
    assert "/kpi/drill/fcr_callbacks/?" in html


def test_each_section_shows_its_tables(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    capacity = client.get(f"/kpi/capacity/?{Q}").content.decode()
    assert "Utilization by location" in capacity and "Third next available" in capacity
    assert "Schedule fill, next 14 days" in capacity
    assert "Slot utilization per day" in capacity  # the period has slots: its own chart
    # A period with no slots charts the schedule ahead instead of an empty utilization chart.
    empty = client.get("/kpi/capacity/?date_from=2026-01-01&date_to=2026-01-10").content
    assert "Schedule fill per day, next 14 days" in empty.decode()
    assert "No bookable slots start in this period" in empty.decode()
    revenue = client.get(f"/kpi/revenue/?{Q}").content.decode()
    assert "CO-197" in revenue and "Yarrow Health" in revenue
    health = client.get(f"/kpi/integrations/?{Q}").content.decode()
    assert "Aurora PMS" in health and "Boulder EHR" in health
    assert "<svg" in client.get(f"/kpi/access/?{Q}").content.decode()


def test_an_empty_source_says_so(client, ops_manager, db):
    client.force_login(ops_manager)
    html = client.get("/kpi/revenue/").content.decode()
    assert "No data yet: billing has not recorded any claims." in html
    assert "%" not in html.split("Clean-claim rate", 1)[1].split("</article>", 1)[0]


def test_bad_filters_get_a_clear_error(client, ops_manager):
    client.force_login(ops_manager)
    response = client.get("/kpi/?date_from=2026-03-10&date_to=2026-03-01")
    assert response.status_code == 400
    assert ERROR_RANGE_ORDER in response.content.decode()
    assert client.get("/kpi/?location=999999").status_code == 400
    assert client.get("/kpi/nonsense/").status_code == 404


def test_htmx_requests_get_the_content_partial(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    response = client.get(f"/kpi/access/?{Q}", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="kpi-content"' in html and "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_tables_export_to_csv(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    response = client.get(f"/kpi/capacity/?{Q}&export=by_location")
    assert response["Content-Type"].startswith("text/csv")
    assert "kpi-capacity-by_location-2026-03-01-2026-03-10.csv" in response["Content-Disposition"]
    rows = rows_of(response)
    assert rows[0] == ["Location", "Bookable slots", "Booked", "Utilization"]
    assert ["Aurora", "2", "1", "50.0"] in rows

    metrics = rows_of(client.get(f"/kpi/access/?{Q}&export=metrics"))
    fcr = next(r for r in metrics if r[0] == "First-call resolution")
    assert fcr[1:5] == ["75.0", "50.0", "3", "4"]
    assert client.get(f"/kpi/access/?{Q}&export=nope").status_code == 404


def test_drill_down_lists_the_rows_behind_a_number(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    html = client.get(f"/kpi/drill/wrong_location/?{Q}").content.decode()
    assert "2 rows" in html
    assert f"<td>{kpi_net.a3.pk}</td>" in html and f"<td>{kpi_net.a4.pk}</td>" in html
    # Ops managers see opaque patient ids, never names.
    assert kpi_net.pb.last_name not in html
    assert "Patients are shown by id only" in html
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_the_mismatch_drill_down_says_why(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    rows = rows_of(client.get(f"/kpi/drill/mismatch/?{Q}&format=csv"))
    why = {r[1]: r[0] for r in rows[1:]}
    assert why == {
        str(kpi_net.a3.pk): "age outside provider's range; cancelled as wrong provider",
        str(kpi_net.a4.pk): "no shared language",
    }


def test_drill_down_csv_matches_the_metric(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    rows = rows_of(client.get(f"/kpi/drill/fcr_callbacks/?{Q}&format=csv"))
    assert len(rows) == 2  # header + c1, the one call that was called back
    assert rows[1][0] == str(kpi_net.c1.pk)
    assert "Patient" not in rows[0]


def test_drill_down_shows_names_to_roles_allowed_and_audits_the_access(client, admin_user, kpi_net):
    client.force_login(admin_user)
    html = client.get(f"/kpi/drill/wrong_location/?{Q}").content.decode()
    assert kpi_net.pb.last_name in html and kpi_net.pc.last_name in html
    audited = set(
        LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=admin_user).values_list(
            "object_id", flat=True
        )
    )
    assert audited == {kpi_net.pb.pk, kpi_net.pc.pk}


def test_drill_down_scopes_by_extra_ids(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    rows = rows_of(client.get(f"/kpi/drill/messages/?{Q}&connector={kpi_net.cb.pk}&format=csv"))
    assert len(rows) == 1 + 3
    assert {r[2] for r in rows[1:]} == {"Boulder EHR"}
    assert client.get(f"/kpi/drill/unknown/?{Q}").status_code == 404


def test_table_rows_drill_into_their_own_rows(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    html = client.get(f"/kpi/access/?{Q}").content.decode()
    api = re.search(r'href="(/kpi/drill/bookings/\?[^"]*channel=1[^"]*)"', html)
    assert api, "the API channel row links to its bookings"
    rows = rows_of(client.get(api.group(1).replace("&amp;", "&") + "&format=csv"))
    assert [r[0] for r in rows[1:]] == [str(kpi_net.a2.pk)]
    capacity = client.get(f"/kpi/capacity/?{Q}").content.decode()
    assert "date_from=2026-03-04&amp;date_to=2026-03-04" in capacity
    assert client.get(f"/kpi/drill/bookings/?{Q}&channel=99").status_code == 404


def test_links_carry_ids_and_dates_only(client, admin_user, kpi_net):
    client.force_login(admin_user)
    hrefs = []
    for url in PAGES[:-1]:
        html = client.get(f"{url}?{Q}&agent={kpi_net.agent.pk}").content.decode()
        hrefs += re.findall(r'href="([^"]+)"', html)
    hrefs += re.findall(r'href="([^"]+)"', client.get(f"/kpi/drill/bookings/?{Q}").content.decode())
    assert any(f"agent={kpi_net.agent.pk}" in h for h in hrefs)
    for patient in (kpi_net.pa, kpi_net.pb, kpi_net.pc):
        assert not [h for h in hrefs if patient.last_name in h or str(patient.date_of_birth) in h]


@pytest.mark.parametrize("key", sorted(DRILLS))
def test_every_drill_down_renders_and_exports(client, admin_user, kpi_net, key):
    client.force_login(admin_user)
    page = client.get(f"/kpi/drill/{key}/?{Q}")
    assert page.status_code == 200
    rows = rows_of(client.get(f"/kpi/drill/{key}/?{Q}&format=csv"))
    assert rows[0] == [c.header for c in DRILLS[key].columns]
    # Every drill-down of the hand-made network has rows, except the free slots from now
    # on and the upcoming ones: its slots all lie in the past.
    if key not in ("free_slots", "upcoming_slots"):
        assert len(rows) > 1, key


def test_filters_drills_and_links_speak_the_users_language(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    html = client.get(f"/kpi/access/?{Q}").content.decode()
    # Empty filter choices say what they mean.
    assert "---------" not in html
    for everything in ("All regions", "All locations", "All agents", "All appointment types"):
        assert f">{everything}</option>" in html
    # Drill links say what they list: the agent with c1, c2, c5, c6 in the period.
    assert ">4 calls</a>" in html and ">rows</a>" not in html
    calls = client.get(f"/kpi/drill/calls/?{Q}").content.decode()
    assert "Follow-up" in calls and "follow_up" not in calls  # reason labels, not codes
    assert "Open (in progress)" in calls and ">open<" not in calls
    assert ">Urgent<" in calls and ">recall<" not in calls
    # Appointment times are the location's own (Aurora: Denver), with the zone abbreviation.
    bookings = client.get(f"/kpi/drill/bookings/?{Q}").content.decode()
    assert " MST<" in bookings and " UTC<" not in bookings
    capacity = client.get(f"/kpi/capacity/?{Q}").content.decode()
    assert re.search(r">\d+ slots</a>", capacity)


def test_third_next_available_shows_the_locations_own_time(kpi_net):
    from datetime import UTC, datetime, timedelta

    from scheduling.kpi.drill import local_time
    from scheduling.kpi.selectors import third_next_available
    from scheduling.models import Slot

    now = datetime(2026, 7, 1, 12, tzinfo=UTC)
    for hours in (2, 3, 4):
        Slot.objects.create(
            provider=kpi_net.p1,
            location=kpi_net.l1,
            start=now + timedelta(hours=hours),
            end=now + timedelta(hours=hours, minutes=30),
        )
    row = next(t for t in third_next_available(PERIOD, now=now) if t.third_start)
    assert row.time_zone == "America/Denver"
    # 16:00 UTC in July is 10:00 in Denver (MDT).
    assert local_time(row.third_start, row.time_zone) == "2026-07-01 10:00 MDT"


def test_each_denial_reason_drills_into_its_own_claims(client, ops_manager, kpi_net):
    client.force_login(ops_manager)
    html = client.get(f"/kpi/revenue/?{Q}").content.decode()
    table = html[html.index('data-table="denials_by_reason"') :]
    table = table[: table.index("</table>")]
    links = [h.replace("&amp;", "&") for h in re.findall(r'href="(/kpi/drill/[^"]+)"', table)]
    assert len(links) == 3 and all("reason=" in h for h in links)
    claims = [[r[0] for r in rows_of(client.get(h + "&format=csv"))[1:]] for h in links]
    # CO-197 (K2's claim), CO-97 (K4's lines), unknown reason (K5, no CAS): one claim each,
    # three different ones, together the denial rate's 3.
    assert claims == [["K2"], ["K4"], ["K5"]]
    assert (
        client.get(f"/kpi/drill/denied_claims/?{Q}&reason=999999&format=csv")
        .content.decode()
        .count("\n")
        == 1
    )
