"""MLLP over TLS: the listener with --certfile/--keyfile, the relay's client with mllps://."""

from __future__ import annotations

import subprocess

import pytest

from integrations.mllp.server import tls_context
from integrations.models import Connector, Message
from integrations.relay import outbox_relay
from tests import factories as f

from .conftest import RunningListener, booked_appointment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def test_the_relay_delivers_over_tls_to_a_tls_listener_and_refuses_an_untrusted_one(
    certificate, settings
):
    settings.INTEGRATIONS_KICK_RELAY = False
    settings.INTEGRATIONS_SEND_TIMEOUT = 2
    cert, key = certificate
    running = RunningListener(ssl_context=tls_context(cert, key))
    try:
        location = f.location()
        # The listener accepts what the hub sends: a connector for the hub as a sender.
        Connector.objects.create(
            name="Hub loopback",
            kind="hl7v2_mllp",
            role="location_pms",
            location=f.location(),
            sending_application="CAREHUB",
            sending_facility="HUB",
        )
        Connector.objects.create(
            name="TLS PMS",
            kind="hl7v2_mllp",
            role="location_pms",
            location=location,
            endpoint=f"mllps://127.0.0.1:{running.port}",
        )
        booked_appointment(location=location)

        outbox_relay()
        row = Message.objects.get(direction="out")
        assert row.status == "failed" and "not trusted" in row.last_error

        settings.INTEGRATIONS_MLLP_CAFILE = cert
        Message.objects.filter(pk=row.pk).update(next_attempt_at=None)
        outbox_relay()
        row.refresh_from_db()
        assert (row.status, row.ack_code) == ("sent", "AA")
        stored = Message.objects.get(direction="in")
        assert stored.control_id == row.control_id and stored.message_type == "SIU^S12"
    finally:
        running.stop()
