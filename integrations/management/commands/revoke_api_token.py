from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.models import ApiToken
from integrations.tokens import api_token_revoke


class Command(BaseCommand):
    help = "Revoke API tokens by their prefix (as the admin lists them) or all of a user's."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", nargs="?", help="The token's first 8 characters")
        parser.add_argument("--user", help="Revoke every live token this username owns")

    def handle(self, *args: Any, **opts: Any) -> None:
        if bool(opts["prefix"]) == bool(opts["user"]):
            raise CommandError("Give either a token prefix or --user USERNAME.")
        tokens = ApiToken.objects.filter(revoked=False)
        if opts["prefix"]:
            tokens = tokens.filter(prefix=opts["prefix"])
        else:
            tokens = tokens.filter(user__username=opts["user"])
        revoked = sum(api_token_revoke(token=token) for token in tokens)
        if not revoked:
            raise CommandError("No live token matches.")
        self.stdout.write(f"Revoked {revoked} token(s).")
