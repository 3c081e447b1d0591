"""Database sessions whose payload is encrypted like any PHI column.

Sessions hold PHI now and then (the admin's private search term, the console's call
state), and Django's database backend stores the payload signed but readable. This
store seals the encoded payload with the data keys before it reaches ``django_session``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

from config.crypto import DecryptionError, decrypt_text, encrypt_text, is_ciphertext


class SessionStore(DatabaseSessionStore):
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
