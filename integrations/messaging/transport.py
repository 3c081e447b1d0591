"""SMS and email transports, behind the relay's one ``Transport`` base.

Twilio errors: a 4xx (bad number, unsubscribed recipient, bad credentials) can never
succeed as sent, so it is permanent; 5xx, 429 and network errors are transient. SMTP:
a 5xx reply is permanent, a 4xx reply or a dropped connection transient.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend
from django.utils import timezone

from ..models import Connector
from ..transports import Delivered, Transport, TransportError

# Tests route the Twilio library's HTTP through Django's test client; None is the
# library's own requests-based client.
HttpClientFactory = Callable[[float], Any]
http_client_factory: HttpClientFactory | None = None


def sms_auth_token(connector: Connector) -> str:
    """The auth token: from the variable the connector names, else the sandbox's."""
    if connector.credentials_ref:
        return os.environ.get(connector.credentials_ref, "")
    return str(settings.ENGAGEMENT_SANDBOX_SMS_TOKEN)


def twilio_client(connector: Connector, *, timeout: float) -> Any:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    http = (
        http_client_factory(timeout) if http_client_factory else TwilioHttpClient(timeout=timeout)
    )
    client = Client(connector.sending_application, sms_auth_token(connector), http_client=http)
    if connector.endpoint:
        # The sandbox gateway (or a regional edge) serves the same paths at another base.
        client.api.base_url = connector.endpoint.rstrip("/")
    return client


class TwilioSmsTransport(Transport):
    def send(
        self, payload: str, *, control_id: str, resource: dict[str, Any] | None = None
    ) -> Delivered:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        assert resource is not None
        client = twilio_client(self.connector, timeout=self.timeout)
        sender = self.connector.sending_facility
        try:
            if resource.get("since"):
                # An earlier attempt built this message and was never recorded (the
                # worker died, or the answer timed out): the provider may have it already.
                sid = _already_sent(client, resource, sender)
                if sid:
                    return Delivered(ack_code="OK", response=sid)
            message = client.messages.create(to=resource["to"], from_=sender, body=resource["body"])
        except TwilioRestException as exc:
            permanent = 400 <= exc.status < 500 and exc.status not in (408, 429)
            raise TransportError(
                f"provider refused the text (HTTP {exc.status}, code {exc.code})",
                permanent=permanent,
            ) from None
        except TwilioException as exc:
            raise TransportError(
                f"provider unreachable: {type(exc).__name__}", permanent=False
            ) from None
        except OSError as exc:
            raise TransportError(f"provider unreachable: {exc}", permanent=False) from None
        except Exception as exc:  # requests' errors, which are not OSErrors
            if type(exc).__module__.startswith(("requests", "urllib3")):
                raise TransportError(
                    f"provider unreachable: {type(exc).__name__}", permanent=False
                ) from None
            raise
        return Delivered(ack_code="OK", response=str(message.sid))


def _already_sent(client: Any, resource: dict[str, Any], sender: str) -> str:
    since = datetime.fromisoformat(resource["since"])
    # Twilio filters DateSent by day; the exact match is on number and text.
    for sent in client.messages.list(
        to=resource["to"], date_sent_after=since - timedelta(days=1), limit=200
    ):
        if sent.body == resource["body"] and (not sender or sent.from_ == sender):
            return str(sent.sid)
    return ""


class SmtpEmailTransport(Transport):
    """Django's SMTP backend against the connector's server: smtp://host:port, or
    smtps://host:port for implicit TLS."""

    def send(
        self, payload: str, *, control_id: str, resource: dict[str, Any] | None = None
    ) -> Delivered:
        assert resource is not None
        endpoint = self.connector.endpoint
        use_ssl = endpoint.startswith("smtps://")
        host, _, port = endpoint.removeprefix("smtps://").removeprefix("smtp://").rpartition(":")
        if not host or not port.isdigit():
            raise TransportError("SMTP endpoint must be smtp://host:port", permanent=True)
        user, _, password = (
            os.environ.get(self.connector.credentials_ref, "")
            if self.connector.credentials_ref
            else ""
        ).partition(":")
        backend = EmailBackend(
            host=host,
            port=int(port),
            username=user or None,
            password=password or None,
            use_ssl=use_ssl,
            timeout=self.timeout,
            fail_silently=False,
        )
        email = EmailMessage(
            subject=resource.get("subject", ""),
            body=resource["body"],
            from_email=self.connector.sending_facility or None,
            to=[resource["to"]],
            headers={"Message-ID": f"<{control_id}@carehub>"},
            connection=backend,
        )
        if resource.get("ics"):
            email.attach("appointment.ics", resource["ics"], "text/calendar; method=PUBLISH")
        try:
            email.send()
        except smtplib.SMTPResponseException as exc:
            raise TransportError(
                f"SMTP server refused ({exc.smtp_code})", permanent=exc.smtp_code >= 500
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise TransportError("SMTP server refused the recipient", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"SMTP failed: {type(exc).__name__}", permanent=False) from None
        return Delivered(ack_code="250", response=f"<{control_id}@carehub>")


def now_iso() -> str:
    return timezone.now().isoformat()
