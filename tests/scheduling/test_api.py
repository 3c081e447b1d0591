"""The scheduling REST API: same services, same guarantees, clear errors."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.servers.basehttp import WSGIServer
from django.db import connection
from rest_framework.test import APIClient

from config.roles import AGENT
from integrations.models import ApiToken, OutboxEvent
from scheduling import services
from scheduling.models import Appointment, Hold
from tests import factories as f

DAY = (datetime.now(tz=UTC) + timedelta(days=6)).replace(hour=16, minute=0, second=0, microsecond=0)


def api(user: User) -> APIClient:
    client = APIClient()
    _, key = ApiToken.issue(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


class World:
    def __init__(self) -> None:
        self.location = f.location(equipment=["pano"])
        self.cbct_location = f.location(region=self.location.region, equipment=["cbct"])
        self.provider = f.provider(
            capabilities=["general", "implants"], locations=[self.location, self.cbct_location]
        )
        self.slots = [
            f.slot(
                provider=self.provider,
                location=self.location,
                start=DAY + timedelta(minutes=30 * i),
            )
            for i in range(4)
        ]
        self.cbct_slots = [
            f.slot(
                provider=self.provider,
                location=self.cbct_location,
                start=DAY + timedelta(days=1, minutes=30 * i),
            )
            for i in range(4)
        ]
        self.checkup = f.appointment_type()
        self.consult = f.appointment_type(
            capabilities=["implants"],
            equipment=["cbct"],
            duration_minutes=60,
            name="Implant consult",
        )
        self.patient = f.patient()


@pytest.fixture
def world(db) -> World:
    return World()


def hold(client: APIClient, slot_id: int):
    return client.post("/api/v1/holds/", {"slot_id": slot_id}, format="json")


def book_payload(world: World, hold_id: int, **kw) -> dict:
    return {
        "hold_id": hold_id,
        "patient_id": world.patient.pk,
        "appointment_type_id": world.checkup.pk,
        "reason": "recall",
        **kw,
    }


@pytest.mark.django_db
def test_the_api_needs_a_token_and_the_agent_role(world, outsider):
    assert APIClient().post("/api/v1/holds/", {"slot_id": world.slots[0].pk}).status_code == 401
    response = hold(api(outsider), world.slots[0].pk)
    assert response.status_code == 403
    assert not Hold.objects.exists()


@pytest.mark.django_db
def test_search_explains_exclusions_and_ranks_by_local_day(world, agent):
    response = api(agent).post(
        "/api/v1/slots/search/",
        {"patient_id": world.patient.pk, "appointment_type_id": world.consult.pk},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    starts = [o["slot_id"] for d in body["days"] for o in d["options"]]
    assert starts == [world.cbct_slots[0].pk, world.cbct_slots[1].pk, world.cbct_slots[2].pk]
    assert body["days"][0]["options"][0]["local_start"].startswith(
        (DAY + timedelta(days=1)).astimezone(world.location.tz).strftime("%Y-%m-%dT%H:%M")
    )
    assert {
        "kind": "location",
        "id": world.location.pk,
        "name": world.location.name,
        "reasons": [f"{world.location.name} has no CBCT, which Implant consult needs"],
        "rules": ["location-equipment"],
    } in body["excluded"]


@pytest.mark.django_db
def test_search_shows_who_holds_a_slot_only_as_another_agent_or_you(world, agent, other_agent):
    assert hold(api(other_agent), world.cbct_slots[0].pk).status_code == 201
    assert hold(api(agent), world.cbct_slots[1].pk).status_code == 201
    search = {"patient_id": world.patient.pk, "appointment_type_id": world.consult.pk}

    body = api(agent).post("/api/v1/slots/search/", search, format="json").json()

    options = {o["slot_id"]: o for d in body["days"] for o in d["options"]}
    theirs, mine, free = (options[s.pk] for s in world.cbct_slots[:3])
    assert (theirs["held"], theirs["held_by_me"], theirs["hold_note"]) == (
        True,
        False,
        "held by another agent",
    )
    assert (mine["held"], mine["held_by_me"], mine["hold_note"]) == (
        False,
        True,
        "held by you on this call",
    )
    assert (free["held"], free["held_by_me"], free["hold_note"]) == (False, False, "")
    assert other_agent.username not in str(body)


@pytest.mark.django_db
def test_a_malformed_search_gets_field_errors(agent):
    response = api(agent).post(
        "/api/v1/slots/search/",
        {"patient_id": "x", "date_from": "2026-13-01", "time_of_day": "noonish"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"patient_id", "appointment_type_id", "date_from", "time_of_day"}


@pytest.mark.django_db
def test_hold_book_and_cancel_through_the_api(world, agent):
    client = api(agent)
    call = client.post("/api/v1/calls/", {"caller_phone": "303 555 0199"}, format="json").json()
    held = client.post(
        "/api/v1/holds/", {"slot_id": world.slots[0].pk, "call_id": call["id"]}, format="json"
    )
    assert held.status_code == 201

    booked = client.post(
        "/api/v1/appointments/",
        book_payload(world, held.json()["id"], call_id=call["id"]),
        format="json",
    )
    assert booked.status_code == 201
    appt = booked.json()
    assert appt["status"] == "booked" and appt["local_start"].endswith("-07:00")
    assert Appointment.objects.get().channel == "api"

    entry = client.post(
        "/api/v1/waitlist/",
        {
            "patient_id": f.patient().pk,
            "appointment_type_id": world.checkup.pk,
            "earliest": str(DAY.date() - timedelta(days=1)),
            "latest": str(DAY.date() + timedelta(days=1)),
        },
        format="json",
    )
    assert entry.status_code == 201

    cancelled = client.post(
        f"/api/v1/appointments/{appt['id']}/cancel/", {"reason": "patient_ill"}, format="json"
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["appointment"]["status"] == "cancelled"
    assert [m["entry_id"] for m in cancelled.json()["waitlist_matches"]] == [entry.json()["id"]]
    matches = client.get(f"/api/v1/slots/{world.slots[0].pk}/waitlist-matches/")
    assert [m["entry_id"] for m in matches.json()] == [entry.json()["id"]]

    wrapped = client.post(
        f"/api/v1/calls/{call['id']}/wrap-up/", {"outcome": "cancelled"}, format="json"
    )
    assert wrapped.status_code == 200 and wrapped.json()["ended_at"]


@pytest.mark.django_db
def test_reschedule_through_the_api(world, agent):
    client = api(agent)
    first = hold(client, world.slots[0].pk).json()
    appt = client.post(
        "/api/v1/appointments/", book_payload(world, first["id"]), format="json"
    ).json()
    second = hold(client, world.slots[2].pk).json()

    moved = client.post(
        f"/api/v1/appointments/{appt['id']}/reschedule/",
        {"hold_id": second["id"], "reason": "patient_request"},
        format="json",
    )

    assert moved.status_code == 201
    assert moved.json()["appointment"]["rescheduled_from_id"] == appt["id"]
    assert moved.json()["waitlist_matches"] == []
    assert Appointment.objects.get(pk=appt["id"]).status == "rescheduled"


@pytest.mark.django_db
def test_a_search_for_a_move_may_offer_times_overlapping_the_visit_being_moved(world, agent):
    client = api(agent)
    first = hold(client, world.slots[0].pk).json()
    appt = client.post(
        "/api/v1/appointments/", book_payload(world, first["id"]), format="json"
    ).json()
    # A second provider with a unit at the very time of the patient's booking.
    other = f.provider(capabilities=["general"], locations=[world.location])
    same_time = f.slot(provider=other, location=world.location, start=world.slots[0].start)
    search = {"patient_id": world.patient.pk, "appointment_type_id": world.checkup.pk}

    def offered(body):
        return [o["slot_id"] for d in body["days"] for o in d["options"]]

    plain = client.post("/api/v1/slots/search/", search, format="json").json()
    moving = client.post(
        "/api/v1/slots/search/",
        {**search, "rescheduling_appointment_id": appt["id"]},
        format="json",
    ).json()

    assert same_time.pk not in offered(plain), "the patient is busy then"
    assert same_time.pk in offered(moving), "unless that visit is the one being moved"
    stranger = f.patient()
    wrong = client.post(
        "/api/v1/slots/search/",
        {**search, "patient_id": stranger.pk, "rescheduling_appointment_id": appt["id"]},
        format="json",
    )
    assert wrong.status_code == 400
    assert "rescheduling_appointment_id" in wrong.json()


@pytest.mark.django_db
def test_a_move_out_of_network_through_the_api_takes_an_override_reason(world, agent):
    plan = f.plan()
    f.coverage(patient=world.patient, plan=plan)
    f.in_network(plan=plan, location=world.location)
    f.in_network(plan=plan, location=world.cbct_location)
    other = f.provider(capabilities=["general"], locations=[world.location])
    f.in_network(plan=plan, provider=other)
    in_network = f.slot(provider=other, location=world.location, start=world.slots[3].start)
    client = api(agent)
    first = hold(client, in_network.pk).json()
    appt = client.post(
        "/api/v1/appointments/", book_payload(world, first["id"]), format="json"
    ).json()
    second = hold(client, world.slots[1].pk).json()  # world.provider: out of network
    url = f"/api/v1/appointments/{appt['id']}/reschedule/"

    refused = client.post(url, {"hold_id": second["id"], "reason": "other"}, format="json")
    moved = client.post(
        url,
        {
            "hold_id": second["id"],
            "reason": "other",
            "network_override_reason": "Patient asked for this dentist",
        },
        format="json",
    )

    assert refused.status_code == 409 and refused.json()["code"] == "RuleViolation"
    assert moved.status_code == 201, moved.content
    new = Appointment.objects.get(pk=moved.json()["appointment"]["id"])
    assert new.network_override_reason == "Patient asked for this dentist"


@pytest.mark.django_db
def test_conflicts_answer_409_with_a_constant_message(world, agent, other_agent):
    hold(api(agent), world.slots[0].pk)

    response = hold(api(other_agent), world.slots[0].pk)

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This slot is held by another agent.",
        "code": "SlotHeld",
        "reasons": [],
    }


@pytest.mark.django_db
def test_a_patient_the_rules_exclude_gets_the_reasons_and_nothing_changes(world, agent):
    client = api(agent)
    held = hold(client, world.slots[0].pk).json()

    response = client.post(
        "/api/v1/appointments/",
        book_payload(world, held["id"], appointment_type_id=world.consult.pk),
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["detail"] == "The scheduling rules exclude this booking."
    assert response.json()["reasons"] == [
        f"{world.location.name} has no CBCT, which Implant consult needs"
    ]
    assert not Appointment.objects.exists() and not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_a_slot_in_the_past_and_a_malformed_booking_are_400(world, agent):
    client = api(agent)
    past = f.slot(provider=world.provider, location=world.location, start=DAY - timedelta(days=20))
    response = hold(client, past.pk)
    assert response.status_code == 400
    assert response.json()["detail"] == "This slot is in the past."

    bad = client.post(
        "/api/v1/appointments/", {"hold_id": 999999, "reason": "bored"}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"hold_id", "patient_id", "appointment_type_id", "reason"}
    assert not Appointment.objects.exists()


@pytest.mark.django_db
def test_another_agents_hold_cannot_be_booked_or_released(world, agent, other_agent):
    held = hold(api(agent), world.slots[0].pk).json()
    thief = api(other_agent)

    assert (
        thief.post(
            "/api/v1/appointments/", book_payload(world, held["id"]), format="json"
        ).status_code
        == 403
    )
    assert thief.post(f"/api/v1/holds/{held['id']}/release/").status_code == 403
    assert Hold.objects.get().released_at is None


@pytest.mark.django_db
def test_the_schema_still_builds(agent):
    response = api(agent).get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/slots/search/" in response.content


# --- 50 real HTTP clients at once (PostgreSQL) -------------------------------------------


def _post(url: str, token: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _storm(n: int, send) -> Counter:
    barrier = threading.Barrier(n)
    results: Counter = Counter()
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        status, body = send(i)
        with lock:
            results[(status, body.get("detail", ""))] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


# Django's development server listens with a backlog of 10; fifty clients connecting at
# once would be refused by the kernel before Django saw them. Set at import time, which is
# before pytest-django starts the (session-wide) live server thread.
WSGIServer.request_queue_size = 128

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the race is decided by PostgreSQL locks"
)


@pytest.fixture
def fifty_agents(transactional_db) -> list[tuple[User, str]]:
    group = Group.objects.get(name=AGENT)
    out = []
    for i in range(50):
        user = User.objects.create_user(f"api-racer{i}", password="x")
        user.groups.add(group)
        out.append((user, ApiToken.issue(user)[1]))
    return out


@postgres_only
def test_fifty_clients_race_for_one_hold(live_server, fifty_agents):
    world = World()
    url = f"{live_server.url}/api/v1/holds/"

    results = _storm(50, lambda i: _post(url, fifty_agents[i][1], {"slot_id": world.slots[0].pk}))

    assert results == {(201, ""): 1, (409, "This slot is held by another agent."): 49}
    assert Hold.objects.count() == 1


@postgres_only
def test_fifty_clients_race_to_book_one_slot(live_server, fifty_agents):
    """Every client holds then books the same slot; the other forty-nine get a clear 409,
    and fifty parallel submissions of the winning hold still book once."""
    world = World()

    def hold_then_book(i: int) -> tuple[int, dict]:
        token = fifty_agents[i][1]
        status, body = _post(
            f"{live_server.url}/api/v1/holds/", token, {"slot_id": world.slots[1].pk}
        )
        if status != 201:
            return status, body
        return _post(
            f"{live_server.url}/api/v1/appointments/", token, book_payload(world, body["id"])
        )

    results = _storm(50, hold_then_book)
    # Which of the two a loser gets depends only on timing, so either is right: one
    # arriving before the winner's booking commits finds the slot held, one arriving
    # after finds it booked. Anything else (another status, another message) is a bug.
    legitimate_losses = {
        (409, services.SlotHeld.message),  # "This slot is held by another agent."
        (409, services.SlotUnavailable.message),  # "This slot is no longer available."
    }
    assert results[(201, "")] == 1
    losers = {key: n for key, n in results.items() if key != (201, "")}
    assert sum(losers.values()) == 49
    assert set(losers) <= legitimate_losses, losers

    owner = fifty_agents[0]
    held = _post(f"{live_server.url}/api/v1/holds/", owner[1], {"slot_id": world.slots[3].pk})[1]
    resubmits = _storm(
        50,
        lambda i: _post(
            f"{live_server.url}/api/v1/appointments/", owner[1], book_payload(world, held["id"])
        ),
    )
    assert resubmits == {
        (201, ""): 1,
        (409, "This hold has expired or was released; hold the slot again."): 49,
    }
    assert Appointment.objects.filter(status="booked").count() == 2


@pytest.mark.django_db
def test_out_of_network_options_come_only_on_request_and_book_with_a_reason(world, agent):
    plan = f.plan()
    f.coverage(patient=world.patient, plan=plan)
    f.in_network(plan=plan, location=world.cbct_location)  # the location, not the provider
    search = {"patient_id": world.patient.pk, "appointment_type_id": world.consult.pk}
    client = api(agent)

    plain = client.post("/api/v1/slots/search/", search, format="json").json()
    assert plain["days"] == [] and plain["out_of_network_allowed"] is False

    body = client.post(
        "/api/v1/slots/search/", {**search, "allow_out_of_network": True}, format="json"
    ).json()
    options = [o for d in body["days"] for o in d["options"]]
    assert body["out_of_network_allowed"] is True
    assert [o["slot_id"] for o in options] == [s.pk for s in world.cbct_slots[:3]]
    assert options[0]["out_of_network"] is True
    assert options[0]["network_note"] == (
        f"{world.provider} is out of network for {plan}: needs an override reason"
    )
    # The location without the scanner is still excluded, override or not.
    assert world.location.pk in [e["id"] for e in body["excluded"] if e["kind"] == "location"]

    held = hold(client, options[0]["slot_id"]).json()
    payload = book_payload(world, held["id"], appointment_type_id=world.consult.pk)
    refused = client.post("/api/v1/appointments/", payload, format="json")
    assert refused.status_code == 409 and not Appointment.objects.exists()
    booked = client.post(
        "/api/v1/appointments/",
        {**payload, "network_override_reason": "Patient accepts out-of-network cost"},
        format="json",
    )
    assert booked.status_code == 201, booked.content
    assert Appointment.objects.get().network_override_reason == (
        "Patient accepts out-of-network cost"
    )


@pytest.mark.django_db
def test_asking_for_out_of_network_options_without_the_permission_is_403(world):
    from django.contrib.auth.models import Permission

    # May use the console and its API, may not override the network.
    user = User.objects.create_user("console.only", password="x")
    user.user_permissions.add(Permission.objects.get(codename="use_console"))
    search = {
        "patient_id": world.patient.pk,
        "appointment_type_id": world.consult.pk,
        "allow_out_of_network": True,
    }

    response = api(user).post("/api/v1/slots/search/", search, format="json")

    assert response.status_code == 403
    assert response.json()["detail"] == "You are not allowed to book out of network."
