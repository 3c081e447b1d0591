"""Landing after login, the favicon, and run_hub's MLLP port."""

from __future__ import annotations

import socket

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


def test_an_agent_lands_on_the_console(client, agent):
    client.force_login(agent)

    response = client.get("/")

    assert response.status_code == 302 and response["Location"] == "/console/"


def test_someone_with_several_workplaces_gets_the_list(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/")
    assert response.status_code == 200 and "/kpi/" in response.content.decode()


def test_the_favicon_is_served_to_anyone(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_hub_says_clearly_when_the_mllp_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(CommandError) as refused:
            call_command("run_hub", "--port", str(_free_port()), "--mllp-port", str(port))

    message = str(refused.value)
    assert f"Port {port} on 127.0.0.1 is already in use" in message
    assert "--mllp-port" in message and "MLLP_PORT" in message
