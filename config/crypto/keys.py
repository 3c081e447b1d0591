"""The data key ring and the blind-index key, read once from settings.

``HUB_DATA_KEYS`` lists AES-256 keys newest first, each ``ID:KEY`` (KEY is 32 bytes in
urlsafe base64). The newest encrypts; every listed key decrypts, so a new key can be put
in front while rows written under the old ones are still being re-encrypted
(``rotate_data_keys``). The id travels in every ciphertext, so decrypting never tries
keys in turn and an operator can tell which key a row still needs.

The blind-index key is separate and is not rotated with the data keys: every keyed
lookup index is an HMAC under it, and changing it means recomputing all of them.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ImproperlyConfigured

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
KEY_BYTES = 32

ERR_NO_KEYS = "HUB_DATA_KEYS is empty: production needs at least one data key"
ERR_BAD_ENTRY = (
    "HUB_DATA_KEYS entry {n} is malformed: expected ID:KEY with ID of 1-16 letters, digits, "
    "'-' or '_' and KEY 32 bytes in urlsafe base64"
)
ERR_DUPLICATE_ID = "HUB_DATA_KEYS names key id {kid!r} twice"
ERR_BAD_INDEX_KEY = "HUB_BLIND_INDEX_KEY must be 32 bytes or more in urlsafe base64"


def new_key() -> str:
    """A fresh 256-bit key, urlsafe base64, as HUB_DATA_KEYS and HUB_BLIND_INDEX_KEY take it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _decode_key(text: str, *, minimum: int) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) >= minimum else None


def parse_data_keys(text: str) -> list[tuple[str, bytes]]:
    """``ID:KEY`` entries separated by commas or newlines, newest first."""
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip() and not e.startswith("#")]
    keys: list[tuple[str, bytes]] = []
    for n, entry in enumerate(entries, 1):
        kid, _, encoded = entry.partition(":")
        raw = _decode_key(encoded, minimum=KEY_BYTES)
        if not KEY_ID.match(kid) or raw is None or len(raw) != KEY_BYTES:
            raise ImproperlyConfigured(ERR_BAD_ENTRY.format(n=n))
        if any(kid == seen for seen, _ in keys):
            raise ImproperlyConfigured(ERR_DUPLICATE_ID.format(kid=kid))
        keys.append((kid, raw))
    return keys


def parse_index_key(text: str) -> bytes:
    raw = _decode_key(text, minimum=KEY_BYTES)
    if raw is None:
        raise ImproperlyConfigured(ERR_BAD_INDEX_KEY)
    return raw


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]  # newest first
    index_key: bytes

    @property
    def primary_id(self) -> str:
        return self.keys[0][0]

    def ids(self) -> list[str]:
        return [kid for kid, _ in self.keys]


@lru_cache(maxsize=8)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(key)


def aead_for(ring: KeyRing, kid: str) -> AESGCM | None:
    for candidate, key in ring.keys:
        if candidate == kid:
            return _aead(key)
    return None


@lru_cache(maxsize=256)
def index_subkey(index_key: bytes, domain: str) -> bytes:
    """One HMAC key per lookup domain (HKDF): equal phones in two columns of different
    domains give unrelated index values, so the columns cannot be joined on them."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"carehub-bidx:" + domain.encode()
    ).derive(index_key)


def ring_from(data_keys: Sequence[tuple[str, bytes]], index_key: bytes) -> KeyRing:
    if not data_keys:
        raise ImproperlyConfigured(ERR_NO_KEYS)
    return KeyRing(keys=tuple(data_keys), index_key=index_key)
