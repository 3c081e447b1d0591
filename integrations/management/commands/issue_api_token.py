from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.models import DEFAULT_TOKEN_SCOPES
from integrations.tokens import api_token_issue


class Command(BaseCommand):
    help = (
        "Issue a bearer token for USERNAME and print it (only its hash is stored). "
        "Scopes: read, book, fhir, metrics, admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=90,
            help="Days until the token stops working (1 to 366; default 90)",
        )
        parser.add_argument(
            "--scopes",
            nargs="+",
            default=list(DEFAULT_TOKEN_SCOPES),
            help="Space- or comma-separated (default: book fhir read)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        user = get_user_model().objects.filter(username=opts["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {opts['username']!r}.")
        if not 1 <= opts["expires_days"] <= 366:
            raise CommandError("--expires-days must be between 1 and 366.")
        scopes = [s for item in opts["scopes"] for s in item.split(",")]
        try:
            token, key = api_token_issue(
                user=user, name=opts["name"], scopes=scopes, expires_days=opts["expires_days"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(key)
        self.stderr.write(
            f"Token {token.prefix}… for {user.get_username()}: scopes {', '.join(token.scopes)}; "
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC. Shown once; store it now."
        )
