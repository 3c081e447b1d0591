"""The sandbox PMS acknowledges as the location system, addressed to the hub."""

from __future__ import annotations

import pytest

from integrations.models import Connector, Message
from integrations.relay import outbox_relay
from integrations.sandbox.system import SandboxPMS
from tests import factories as f

from .conftest import booked_appointment

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db, settings) -> Connector:
    settings.INTEGRATIONS_KICK_RELAY = False
    return Connector.objects.create(
        name="Aurora sandbox PMS",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.LOCATION_PMS,
        location=f.location(equipment=[]),
        sending_application="AURPMS",
        sending_facility="AUR1",
        identifier_system="AUR1-PMS",
    )


def _msh(ack: str) -> list[str]:
    return ack.split("\r")[0].split("|")


def test_the_sandbox_ack_comes_from_the_location_system_to_the_hub(sandbox):
    booked_appointment(location=sandbox.location)
    outbox_relay()

    out = Message.objects.get(direction="out")
    assert out.ack_code == "AA"
    msh = _msh(out.ack_raw)
    assert msh[2:6] == ["AURPMS", "AUR1", "CAREHUB", "HUB"]


def test_the_sandbox_error_ack_also_names_the_location_system(sandbox):
    ack = SandboxPMS(sandbox).receive(
        "MSH|^~\\&|CAREHUB|HUB|AURPMS|AUR1|20260101||SIU^S12^SIU_S12|1|P|2.5.1\rSCH|\r"
    )
    assert "MSA|AE|1" in ack
    assert _msh(ack)[2:6] == ["AURPMS", "AUR1", "CAREHUB", "HUB"]
