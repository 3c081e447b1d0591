"""The slot finder in the console: regions, exclusions, held and out-of-network slots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories as f

from .helpers import HX, out_of_network_patient

pytestmark = pytest.mark.django_db


def test_slot_finder_defaults_to_the_home_region_and_widens_in_one_click(console, agent):
    net = f.console_network()
    f.agent_profile(user=agent, home_region=net["region"])
    elsewhere = f.location(name="Mesa Dental", equipment=["cbct"])
    net["dentist"].locations.add(elsewhere)
    far_slot = f.slot(
        provider=net["dentist"], location=elsewhere, start=timezone.now() + timedelta(days=5)
    )
    p = f.patient()
    opened = console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)
    assert f'<option value="{net["region"].pk}" selected>' in opened.content.decode()

    body = {"appointment_type": net["consult"].pk, "region": net["region"].pk}
    scoped = console.post("/console/slots/", body, headers=HX).content.decode()
    assert "in <strong>Front Range</strong>" in scoped
    assert f'data-slot="{far_slot.pk}"' not in scoped
    assert "Lakewood Dental</strong> has no CBCT scanner" in scoped

    wide = console.post("/console/slots/", {**body, "widen": "1"}, headers=HX).content.decode()
    assert "across <strong>the whole network</strong>" in wide
    assert f'data-slot="{far_slot.pk}"' in wide


def test_slot_finder_rejects_a_backwards_window(console):
    net = f.console_network()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    today = timezone.localdate()

    response = console.post(
        "/console/slots/",
        {
            "appointment_type": net["consult"].pk,
            "date_from": (today + timedelta(days=5)).isoformat(),
            "date_to": today.isoformat(),
        },
        headers=HX,
    )

    assert response.status_code == 400
    assert "must end after it starts" in response.content.decode()


def test_a_rule_exclusion_is_a_message_not_a_500(console):
    net = f.console_network()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    lakewood_slot = net["slots"]["lakewood"][0]
    console.post(
        "/console/hold/",
        {"slot_id": lakewood_slot.pk, "appointment_type_id": net["consult"].pk},
        headers=HX,
    )

    response = console.post("/console/book/", {"reason": "new_problem"}, headers=HX)

    assert response.status_code == 409
    html = response.content.decode()
    assert "The scheduling rules exclude this booking." in html
    assert "Lakewood Dental has no CBCT scanner" in html


def test_another_agents_held_slot_shows_as_held_not_as_a_hold_button(console, agent, other_agent):
    from scheduling import services

    net = f.console_network()
    theirs, mine, free = net["slots"]["cherry-creek"]
    services.hold_place(slot=theirs, by=other_agent, appointment_type=net["consult"])
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)
    console.post(
        "/console/hold/", {"slot_id": mine.pk, "appointment_type_id": net["consult"].pk}, headers=HX
    )

    html = console.post(
        "/console/slots/", {"appointment_type": net["consult"].pk}, headers=HX
    ).content.decode()

    # Theirs: listed where it ranks, marked held, and nothing to click.
    assert f'data-held-slot="{theirs.pk}"' in html
    assert f'data-slot="{theirs.pk}"' not in html
    assert "held by another agent" in html
    assert "(1 more held by other agents)" in html
    # Mine: still a button (it is mine to book), marked as mine; the free one is plain.
    assert f'class="slot-hold slot-mine" data-slot="{mine.pk}"' in html
    assert "held by you on this call" in html
    assert f'class="slot-hold" data-slot="{free.pk}"' in html


def test_out_of_network_slots_are_offered_only_when_the_agent_asks(console):
    net = f.console_network()
    patient, plan = out_of_network_patient(net)
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    body = {"appointment_type": net["consult"].pk}
    first = net["slots"]["cherry-creek"][0]

    plain = console.post("/console/slots/", body, headers=HX).content.decode()
    assert 'id="out-of-network-toggle"' in plain
    assert f'data-slot="{first.pk}"' not in plain
    assert f"Dr. Lee Park</strong> is out of network for {plan}" in plain  # listed as excluded

    asked = console.post(
        "/console/slots/", {**body, "out_of_network": "on"}, headers=HX
    ).content.decode()
    assert f'data-slot="{first.pk}"' in asked
    assert f"Dr. Lee Park is out of network for {plan}: needs an override reason" in asked
    assert "Lakewood Dental</strong> has no CBCT scanner" in asked  # other hard rules still exclude


def test_a_visit_level_block_is_shown_and_widening_is_not_suggested(console, agent):
    net = f.console_network()
    f.agent_profile(user=agent, home_region=net["region"])
    existing_only = f.appointment_type(name="Child nitrous", patient_status="existing")
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    body = {"appointment_type": existing_only.pk, "region": net["region"].pk}
    page = console.post("/console/slots/", body, headers=HX).content.decode()

    assert 'class="blocked" role="alert"' in page
    assert "new to the practice" in page
    assert "Try the whole network" not in page
    assert 'id="widen"' not in page


def test_exclusions_name_each_place_once_and_are_summarised_above_the_options(console):
    net = f.console_network()
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    page = console.post(
        "/console/slots/", {"appointment_type": net["consult"].pk}, headers=HX
    ).content.decode()

    assert "Lakewood Dental: Lakewood Dental" not in page
    assert "<strong>Lakewood Dental</strong> has no CBCT scanner" in page
    summary = page.index('class="small excluded-summary"')
    assert summary < page.index('class="slot-hold')
    assert "Lakewood Dental" in page[summary : page.index("</p>", summary)]


def test_providers_with_the_same_name_are_told_apart_in_the_drop_down(console):
    twin_a = f.provider(first_name="Lee", last_name="Park", credential="DDS")
    twin_b = f.provider(first_name="Lee", last_name="Park", credential="DMD")
    f.provider(first_name="Ann", last_name="Solo")
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    page = console.get("/console/").content.decode()

    assert f">Dr. Lee Park (DDS, NPI …{twin_a.npi[-4:]})</option>" in page
    assert f">Dr. Lee Park (DMD, NPI …{twin_b.npi[-4:]})</option>" in page
    assert ">Dr. Ann Solo</option>" in page  # unique names stay plain
