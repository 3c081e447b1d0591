"""Database sessions whose payload is encrypted like any PHI column.

Sessions hold PHI now and then (the admin's private search term, the console's call
state), and Django's database backend stores the payload signed but readable. This
store seals the encoded payload with the data keys before it reaches ``django_session``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from config.compiled import Compiled, stand_in_moment
from config.crypto import DecryptionError, decrypt_text, encrypt_text, is_ciphertext


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Session | None:
        # Django's own read (the live row by key, else forget the key), compiled once per
        # connection (config.compiled): it runs on every request.
        found = _live.first(session_key=self.session_key, now=timezone.now())
        if found is None:
            self._session_key = None
        return found

    def encode(self, session_dict: dict[str, Any]) -> str:
        return encrypt_text(super().encode(session_dict))

    def decode(self, session_data: bytes | str) -> dict[str, Any]:
        if isinstance(session_data, bytes):
            session_data = session_data.decode("ascii", "replace")
        if not is_ciphertext(session_data):
            return {}  # written before sessions were encrypted: start a fresh one
        try:
            return super().decode(decrypt_text(session_data))
        except DecryptionError:
            return {}


_live: Compiled[Session] = Compiled(
    lambda session_key, now: Session.objects.filter(
        session_key=session_key, expire_date__gt=now
    ).order_by()[:2],
    session_key="stand-in session key: no session has it",
    now=stand_in_moment(),
)
