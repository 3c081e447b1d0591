"""A small engaged world: a location in Denver, a patient who consents to texts, the
sandbox SMS gateway reached through the real Twilio library, and a real SMTP server."""

from __future__ import annotations

import base64
import logging
import socket
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from integrations import relay
from integrations.messaging import transport
from integrations.models import Connector, SandboxSms
from scheduling.models import Appointment, ReminderCadence
from tests import factories as f

ACCOUNT = "ACsandbox0000000000000000000000000"
HUB_NUMBER = "+13035550000"
TOKEN = "test-sandbox-token"
WEBHOOK = "http://testserver/integrations/sms/webhook/"


class DjangoHttp(HttpClient):
    """The Twilio library's HTTP, answered by the hub's sandbox gateway view in-process."""

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__(logging.getLogger("tests.twilio"), False, timeout)
        self.client = Client()

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        path = urllib.parse.urlsplit(url).path
        basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else ""
        headers = {"Authorization": f"Basic {basic}"}
        if method == "GET":
            answer = self.client.get(path, params or {}, headers=headers)
        else:
            answer = self.client.post(path, data or {}, headers=headers)
        return Response(answer.status_code, answer.content.decode())


@pytest.fixture
def sms(db, settings, monkeypatch) -> Connector:
    settings.INTEGRATIONS_KICK_RELAY = False
    settings.ENGAGEMENT_SANDBOX_SMS_TOKEN = TOKEN
    monkeypatch.setattr(transport, "http_client_factory", lambda timeout: DjangoHttp(timeout))
    return Connector.objects.create(
        name="Sandbox SMS",
        kind=Connector.Kind.SMS_TWILIO,
        role=Connector.Role.MESSAGING,
        endpoint="http://testserver/integrations/sms/sandbox",
        sending_application=ACCOUNT,
        sending_facility=HUB_NUMBER,
    )


@pytest.fixture
def denver(db):
    return f.location(time_zone="America/Denver")


@pytest.fixture
def visit_type(db):
    return f.appointment_type(name="Cleaning", duration_minutes=30)


@pytest.fixture
def patient(db, denver):
    return f.patient(
        consent_sms=True, consent_email=True, email="pat@example.org", home_location=denver
    )


def booked(
    *, patient, location, visit_type, start: datetime, created_ago=timedelta(days=10)
) -> Appointment:
    provider = f.provider(locations=[location])
    slot = f.slot(provider=provider, location=location, start=start)
    appt = f.appointment(patient=patient, slot=slot, appointment_type=visit_type)
    Appointment.objects.filter(pk=appt.pk).update(created_at=timezone.now() - created_ago)
    appt.refresh_from_db()
    return appt


def cadence(hours: int, channel: str = "sms", **kw) -> ReminderCadence:
    return ReminderCadence.objects.create(hours_before=hours, channel=channel, **kw)


def relay_all() -> dict[str, int]:
    return relay.outbox_relay()


def sent_texts(to: str | None = None) -> list[SandboxSms]:
    rows = SandboxSms.objects.filter(direction=SandboxSms.Direction.OUTBOUND).order_by("pk")
    return [r for r in rows if to is None or r.to == to]


def signed_post(
    client: Client, params: dict[str, str], *, token: str = TOKEN, signature: str | None = None
):
    if signature is None:
        signature = RequestValidator(token).compute_signature(WEBHOOK, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post("/integrations/sms/webhook/", params, headers=headers)


def reply(client: Client, phone_e164: str, body: str, sid: str) -> Any:
    return signed_post(
        client,
        {
            "AccountSid": ACCOUNT,
            "MessageSid": sid,
            "From": phone_e164,
            "To": HUB_NUMBER,
            "Body": body,
        },
    )


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    # aiosmtpd's controller checks its own port after starting, so it needs a real one:
    # an ephemeral port the kernel just handed out.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
