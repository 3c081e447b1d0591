from __future__ import annotations

from datetime import timedelta

import pytest

from config.models import AuditEntry
from scheduling.models import Appointment, RebookingItem, TimeOff
from tests.mfa import VerifiedClient

from .world import DENVER, Network

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def net() -> Network:
    return Network()


def _client(user) -> VerifiedClient:
    client = VerifiedClient()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/schedule/changes/",
        "/schedule/changes/time-off/",
        "/schedule/changes/rebook-all/",
        "/schedule/changes/notify/",
    ],
)
def test_it_refuses_agents(agent, path):
    client = _client(agent)

    response = client.get(path) if path.endswith("changes/") else client.post(path, {})

    assert response.status_code == 403


def test_ops_enter_a_sick_day_and_rebook_the_worklist_on_the_page(net, agent, ops_manager):
    patients = [net.book(agent, net.slot(hour)).patient for hour in (8, 9)]
    client = _client(ops_manager)

    response = client.post(
        "/schedule/changes/time-off/",
        {"provider": net.provider.pk, "day": net.day.isoformat(), "reason": "Sick day"},
        headers=HTMX,
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "2 booked visits to rebook" in body
    for patient in patients:
        assert str(patient) in body
    assert "8:00 AM" in body and "9:00 AM" in body, "times read in the location's zone"
    assert AuditEntry.objects.filter(
        action=AuditEntry.Action.ACCESS, object_pk=str(patients[0].pk)
    ).exists()

    rebooked = client.post("/schedule/changes/rebook-all/", {}, headers=HTMX)

    assert "Rebooked 2." in rebooked.content.decode()
    assert set(RebookingItem.objects.values_list("status", flat=True)) == {"rebooked"}
    assert Appointment.objects.filter(status="booked", provider=net.colleague).count() == 2


def test_time_off_with_an_end_before_its_start_is_a_form_error(net, ops_manager):
    response = _client(ops_manager).post(
        "/schedule/changes/time-off/",
        {
            "provider": net.provider.pk,
            "day": net.day.isoformat(),
            "start": "11:00",
            "end": "09:00",
            "reason": "Dentist",
        },
        headers=HTMX,
    )

    assert response.status_code == 400
    assert "The end time must be after the start time." in response.content.decode()
    assert not TimeOff.objects.exists()


def test_a_closure_in_the_past_and_a_bad_template_are_form_errors(net, ops_manager):
    client = _client(ops_manager)
    past = client.post(
        "/schedule/changes/closure/",
        {
            "location": net.location.pk,
            "day": (net.day - timedelta(days=30)).isoformat(),
            "reason": "Snow",
        },
        headers=HTMX,
    )
    template = net.templates[net.provider.pk][0]
    bad = client.post(
        "/schedule/changes/template/",
        {
            "template": template.pk,
            "provider": net.provider.pk,
            "location": net.location.pk,
            "weekday": 0,
            "start_time": "08:00",
            "end_time": "12:00",
            "slot_minutes": 30,
            "break_start": "13:00",
            "break_end": "14:00",
        },
        headers=HTMX,
    )

    assert past.status_code == 400 and "Choose today or a later date." in past.content.decode()
    assert bad.status_code == 400
    assert "A break must lie inside the template" in bad.content.decode()


def test_notify_without_a_selection_says_so(ops_manager):
    response = _client(ops_manager).post("/schedule/changes/notify/", {}, headers=HTMX)

    assert response.status_code == 400
    assert "Select at least one row." in response.content.decode()


def test_the_template_pickers_narrow_to_one_provider(net, ops_manager):
    response = _client(ops_manager).get(
        "/schedule/changes/", {"provider": net.colleague.pk}, headers=HTMX
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert str(net.templates[net.colleague.pk][0]) in body
    assert str(net.templates[net.provider.pk][0]) not in body


def test_a_sick_day_on_the_spring_forward_sunday_is_23_hours_of_local_time(net):
    from datetime import date

    from scheduling.changes.forms import TimeOffForm

    form = TimeOffForm({"provider": net.provider.pk, "day": date(2027, 3, 14), "reason": "Sick"})

    assert form.is_valid(), form.errors
    starts_at, ends_at = form.span()
    assert ends_at - starts_at == timedelta(hours=23)
    zone = starts_at.astimezone(DENVER), ends_at.astimezone(DENVER)
    assert [moment.hour for moment in zone] == [0, 0]
    assert [moment.utcoffset() for moment in zone] == [timedelta(hours=-7), timedelta(hours=-6)]
