"""Point the demo's messaging connectors at the sandboxes: texts to the SMS gateway the
web server itself serves (Twilio's API at <web>/integrations/sms/sandbox), email to the
local SMTP server. Creates the connectors the first time."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations.models import Connector

SANDBOX_ACCOUNT = "ACsandbox00000000000000000000demo"
SANDBOX_NUMBER = "+13035550000"


class Command(BaseCommand):
    help = "Create or repoint the sandbox SMS and email connectors."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--web", default="http://127.0.0.1:8000")
        parser.add_argument("--smtp", default="127.0.0.1:1025")

    def handle(self, *args: Any, **opts: Any) -> None:
        Connector.objects.update_or_create(
            name="Sandbox SMS gateway",
            defaults={
                "kind": Connector.Kind.SMS_TWILIO,
                "role": Connector.Role.MESSAGING,
                "direction": Connector.Direction.BOTH,
                "endpoint": f"{opts['web'].rstrip('/')}/integrations/sms/sandbox",
                "sending_application": SANDBOX_ACCOUNT,
                "sending_facility": SANDBOX_NUMBER,
                "credentials_ref": "",
                "allow_plain_transport": True,
            },
        )
        Connector.objects.update_or_create(
            name="Sandbox mail server",
            defaults={
                "kind": Connector.Kind.EMAIL_SMTP,
                "role": Connector.Role.MESSAGING,
                "direction": Connector.Direction.OUTBOUND,
                "endpoint": f"smtp://{opts['smtp']}",
                "sending_facility": "reminders@carehub.example",
                "allow_plain_transport": True,
            },
        )
        self.stdout.write("Sandbox SMS gateway and mail server connectors ready")
