"""A FHIR source that cannot be read shows as failing on integration health, with the
last success and the cursor's age; it recovers on the next good poll."""

from __future__ import annotations

import socket

import pytest

from integrations.fhir.polling import fhir_poll_all
from integrations.models import Connector, PollHealth
from tests import factories as f

from .test_fhir_client import FakeEhr

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ehr():
    server = FakeEhr()
    yield server
    server.server.shutdown()


def _connector(endpoint: str) -> Connector:
    return Connector.objects.create(
        name="Aurora EHR",
        kind=Connector.Kind.FHIR_R4,
        role=Connector.Role.LOCATION_EHR,
        direction=Connector.Direction.INBOUND,
        location=f.location(),
        endpoint=endpoint,
        identifier_system="AUR-EHR",
    )


def test_an_unreachable_ehr_shows_as_failing_on_the_health_page(client, ops_manager, ehr):
    connector = _connector(ehr.base)
    fhir_poll_all()
    connector.endpoint = f"http://127.0.0.1:{_closed_port()}/fhir"
    connector.save()

    fhir_poll_all()
    fhir_poll_all()

    health = PollHealth.objects.get(connector=connector)
    assert health.failing and health.consecutive_failures == 2
    assert "unreachable" in health.last_error
    client.force_login(ops_manager)
    page = client.get("/integrations/health/").content.decode()
    row = page.split("Aurora EHR", 1)[1].split("</tr>", 1)[0]
    assert "<td>failing</td>" in row
    assert "FHIR server unreachable" in row and "2 in a row" in row
    assert "Last poll OK" in page and "Cursor age" in page


def test_the_next_good_poll_clears_the_failure(ehr):
    connector = _connector(f"http://127.0.0.1:{_closed_port()}/fhir")
    fhir_poll_all()
    assert PollHealth.objects.get(connector=connector).failing

    connector.endpoint = ehr.base
    connector.save()
    fhir_poll_all()

    health = PollHealth.objects.get(connector=connector)
    assert not health.failing and health.consecutive_failures == 0
    assert health.last_success_at is not None
