"""What the console's panels say: capped and remembered results, the slot list's order
and zones, a location outside the region, blocked visits, shortcuts, the page's
landmarks."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from patients.selectors import SEARCH_LIMIT
from scheduling.models import AgentProfile, AppointmentType
from tests import factories as f

from .helpers import HX

pytestmark = pytest.mark.django_db


def test_search_says_when_results_are_capped(console):
    for _ in range(SEARCH_LIMIT + 2):
        f.patient(last_name="Rivera")

    page = console.post("/console/patients/search/", {"query": "Rivera"}, headers=HX)

    body = page.content.decode()
    assert body.count('class="linkish open-patient"') == SEARCH_LIMIT
    assert f"Showing the first {SEARCH_LIMIT} matches; more patients match." in body


def test_search_does_not_claim_a_cap_it_did_not_hit(console):
    f.patient(last_name="Rivera")
    body = console.post("/console/patients/search/", {"query": "Rivera"}, headers=HX)
    assert "more patients match" not in body.content.decode()


def test_a_reload_shows_the_last_search_and_slot_results_without_patient_data_in_urls(
    console,
):
    net = f.console_network()
    patient = f.patient(first_name="Ilse", last_name="Ortega", phone="3035550177")
    console.post("/console/patients/search/", {"query": "Ortega"}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    console.post("/console/slots/", {"appointment_type": net["cleaning"].pk}, headers=HX)

    page = console.get("/console/")

    body = page.content.decode()
    assert "Ortega, Ilse" in body.split('id="register"')[0]  # the search panel's hits
    slot = net["slots"]["cherry-creek"][0]
    assert f'data-slot="{slot.pk}"' in body
    # What was typed is not kept (only ids), and nothing about the patient is in a URL.
    assert "Ortega" not in str(console.session["console"])
    assert page.request["PATH_INFO"] == "/console/" and not page.request.get("QUERY_STRING")


def test_the_slot_list_leads_with_the_best_few_then_reads_by_the_clock(console):
    denver_zone = ZoneInfo("America/Denver")
    day = (timezone.now() + timedelta(days=3)).astimezone(denver_zone).date()
    near = f.location(name="Near Dental", zip_code="80202", latitude=39.75, longitude=-104.99)
    far = f.location(
        name="Dallas Dental",
        time_zone="America/Chicago",
        zip_code="75201",
        latitude=32.79,
        longitude=-96.80,
    )
    near_dentist, far_dentist = f.provider(locations=[near]), f.provider(locations=[far])
    for hour in (14, 15, 16, 17):
        f.slot(
            provider=near_dentist,
            location=near,
            start=datetime.combine(day, time(hour), tzinfo=denver_zone),
        )
    dallas_8am = f.slot(
        provider=far_dentist,
        location=far,
        start=datetime.combine(day, time(8), tzinfo=ZoneInfo("America/Chicago")),
    )
    patient = f.patient(zip_code="80202", home_location=near)
    visit = f.appointment_type()
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)

    body = console.post("/console/slots/", {"appointment_type": visit.pk}, headers=HX)

    html = body.content.decode()
    best, by_time = html.split('class="days"')
    assert best.count("slot-best") == 3 and f'data-slot="{dallas_8am.pk}"' not in best
    # Dallas's 8:00 AM comes first by the clock, read out in the caller's time too.
    first = by_time.split('class="slot-hold')[1]
    assert f'data-slot="{dallas_8am.pk}"' in first
    assert "8:00 AM CST" in first and "(caller 7:00 AM MST)" in first
    assert by_time.index("2:00 PM MST") < by_time.index("5:00 PM MST")


def test_a_location_outside_the_chosen_region_is_searched_and_the_agent_is_told(console, agent):
    desert, mountain = f.region(name="Valley of the Sun"), f.region(name="Front Range")
    f.agent_profile(user=agent, home_region=desert)
    denver = f.location(name="Denver Dental Care", region=mountain)
    dentist = f.provider(locations=[denver])
    slot = f.slot(provider=dentist, location=denver, start=timezone.now() + timedelta(days=2))
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    body = console.post(
        "/console/slots/",
        {"appointment_type": f.appointment_type().pk, "region": desert.pk, "location": denver.pk},
        headers=HX,
    ).content.decode()

    assert f'data-slot="{slot.pk}"' in body
    assert "No bookable slot matches" not in body
    assert "The location you chose is outside Valley of the Sun" in body


def test_a_visit_for_established_patients_suggests_the_new_patient_exam(console):
    clinic = f.location()
    f.provider(locations=[clinic])
    cleaning = f.appointment_type(
        name="Periodic exam", patient_status=AppointmentType.PatientStatus.EXISTING
    )
    exam = f.appointment_type(
        name="New patient exam", patient_status=AppointmentType.PatientStatus.NEW
    )
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    body = console.post(
        "/console/slots/", {"appointment_type": cleaning.pk}, headers=HX
    ).content.decode()

    assert "the patient is new to the practice" in body
    assert f'name="appointment_type" value="{exam.pk}"' in body
    assert "Search New patient exam instead" in body


def test_excluded_summaries_end_on_a_whole_word(console):
    f.console_network()
    long_visit = f.appointment_type(
        name="Implant consult with comprehensive periodontal cleaning",
        capabilities=["implants"],
        equipment=["cbct"],
    )
    console.post("/console/patients/open/", {"patient_id": f.patient().pk}, headers=HX)

    body = console.post(
        "/console/slots/", {"appointment_type": long_visit.pk}, headers=HX
    ).content.decode()

    summary = body.split('class="small excluded-summary"')[1].split("</p>")[0]
    shown = summary.split('Lakewood Dental <span class="muted">')[1].split("</span>")[0]
    full = (
        "has no CBCT scanner, which Implant consult with comprehensive periodontal cleaning needs"
    )
    words = shown.removesuffix("…").split()
    assert words and words == full.split()[: len(words)], shown


def test_after_a_reschedule_the_panel_reads_rescheduled(console):
    net = f.console_network()
    patient = f.patient()
    old = f.appointment(
        patient=patient, slot=net["slots"]["cherry-creek"][0], appointment_type=net["cleaning"]
    )
    console.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    console.post("/console/appointments/reschedule/start/", {"appointment_id": old.pk}, headers=HX)
    target = net["slots"]["lakewood"][1]
    console.post(
        "/console/hold/",
        {"slot_id": target.pk, "appointment_type_id": net["cleaning"].pk},
        headers=HX,
    )

    body = console.post(
        "/console/appointments/reschedule/",
        {"appointment_id": old.pk, "reason": "patient_request"},
        headers=HX,
    ).content.decode()

    hold_panel = body.split('id="hold"')[1].split("</section>")[0]
    assert "<h2>Rescheduled</h2>" in hold_panel and "<h2>Booked</h2>" not in hold_panel
    assert "Moved from" in hold_panel


def test_registering_answers_with_the_register_panel_and_the_new_context(console):
    f.location(name="Lakewood Dental")
    body = console.post(
        "/console/patients/register/",
        {
            "first_name": "Reza",
            "last_name": "Rahimi",
            "date_of_birth": "1990-01-02",
            "sex": "M",
            "preferred_language": "en",
        },
        headers=HX,
    ).content.decode()

    # htmx swaps the first fragment into the form's target (#register); the context
    # must arrive out of band, or the Patient panel keeps saying "Search for the caller".
    assert body.lstrip().startswith('<section id="register"')
    context = body.split('<section id="context"')[1].split("</section>")[0]
    assert 'hx-swap-oob="true"' in context and "Rahimi, Reza" in context


def test_an_agent_can_turn_shortcuts_off_and_remap_them(console, agent):
    keys = {
        f"key_{a}": k
        for a, k in zip(
            ["call", "search", "register", "slots", "next", "previous", "hold", "book", "wrapup"],
            "c/rsjkhbw",
            strict=True,
        )
    }
    console.post("/console/shortcuts/", {"enabled": "on", **keys})
    page = console.get("/console/").content.decode()
    assert '"j": "next"' in page and '"k": "previous"' in page
    assert AgentProfile.objects.get(user=agent).console_shortcuts["keys"]["next"] == "j"

    console.post("/console/shortcuts/", keys)  # the box unticked: off
    page = console.get("/console/").content.decode()
    assert '"enabled": false' in page and "Single-key shortcuts are off." in page


def test_a_key_used_twice_is_refused(console, agent):
    keys = {
        f"key_{a}": "x"
        for a in [
            "call",
            "search",
            "register",
            "slots",
            "next",
            "previous",
            "hold",
            "book",
            "wrapup",
        ]
    }
    page = console.post("/console/shortcuts/", {"enabled": "on", **keys}, follow=True)
    assert "Shortcuts not saved" in page.content.decode()
    assert not AgentProfile.objects.filter(user=agent).exclude(console_shortcuts={}).exists()


def test_the_page_has_an_h1_a_skip_link_and_a_labelled_search_box(console):
    page = console.get("/console/").content.decode()
    assert '<h1 class="sr-only">Agent console</h1>' in page
    assert 'class="skip-link" href="#id_query"' in page
    assert '<label for="id_query">Find patient</label>' in page


def test_the_context_panel_says_where_each_clinical_need_came_from(console):
    from patients.models import ClinicalFact, ClinicalNeedRule

    p = f.patient()
    rule = ClinicalNeedRule.objects.create(
        code="Z952", description="Prosthetic valve", provider_alert="Antibiotic premedication"
    )
    ClinicalFact.objects.create(
        patient=p,
        kind=ClinicalFact.Kind.ALERT,
        code="Z952",
        description="Prosthetic heart valve",
        source_system="Aurora EHR",
        recorded_at=datetime(2026, 3, 9, 15, 0, tzinfo=ZoneInfo("UTC")),
        need_rule=rule,
    )

    body = console.post("/console/patients/open/", {"patient_id": p.pk}, headers=HX)

    text = body.content.decode()
    assert "Prosthetic heart valve" in text and "Antibiotic premedication" in text
    assert "from Aurora EHR, 2026-03-09 · code Z952" in text
