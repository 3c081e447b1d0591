"""AES-256-GCM encryption of values and keyed blind indexes, on the ring from settings.

A ciphertext is text: ``E1$<key id>$<urlsafe base64 of 12-byte nonce + ciphertext + tag>``.
AES-GCM authenticates it, so a row altered in the database fails to decrypt instead of
reading as something else. The cipher is ``cryptography``'s AESGCM; this module only
frames it (key id, nonce, text encoding) for columns.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .keys import KeyRing, aead_for, index_subkey, ring_from

PREFIX = "E1$"
NONCE_BYTES = 12

ERR_UNKNOWN_KEY = "a value is encrypted under data key {kid!r}, which HUB_DATA_KEYS no longer lists"
ERR_TAMPERED = "a value failed authentication under data key {kid!r} (altered or corrupt)"
ERR_NOT_CIPHERTEXT = "a column that must be encrypted holds a value that is not ciphertext"


class DecryptionError(ValueError):
    """A stored value cannot be decrypted; the message never contains the value."""


_ring: KeyRing | None = None


def key_ring() -> KeyRing:
    global _ring
    if _ring is None:
        _ring = ring_from(settings.HUB_DATA_KEYS, settings.HUB_BLIND_INDEX_KEY)
    return _ring


@receiver(setting_changed, dispatch_uid="crypto-key-ring-reset")
def _reset_ring(*, setting: str, **_: Any) -> None:
    global _ring
    if setting in {"HUB_DATA_KEYS", "HUB_BLIND_INDEX_KEY"}:
        _ring = None


def is_ciphertext(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(value: str) -> str:
    return value[len(PREFIX) :].split("$", 1)[0]


def encrypt_text(value: str) -> str:
    """Encrypt under the newest data key; a fresh random nonce every time."""
    ring = key_ring()
    kid = ring.primary_id
    aead = aead_for(ring, kid)
    assert aead is not None  # the primary key is always on the ring
    nonce = os.urandom(NONCE_BYTES)
    sealed = aead.encrypt(nonce, value.encode("utf-8"), None)
    return f"{PREFIX}{kid}${base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def decrypt_text(value: str) -> str:
    """The plaintext of ``encrypt_text``'s output, under whichever listed key made it."""
    if not value.startswith(PREFIX):
        raise DecryptionError(ERR_NOT_CIPHERTEXT)
    kid, _, body = value[len(PREFIX) :].partition("$")
    aead = aead_for(key_ring(), kid)
    if aead is None:
        raise DecryptionError(ERR_UNKNOWN_KEY.format(kid=kid))
    try:
        blob = base64.urlsafe_b64decode(body)
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], None).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError(ERR_TAMPERED.format(kid=kid)) from exc


def blind_index(domain: str, normalized: str) -> str:
    """Keyed HMAC-SHA256 of an already normalized value, 128 bits in hex.

    Equal inputs give equal outputs (that is the point: an exact lookup through a btree
    index), so the index leaks which rows share a value, never the value itself without
    the key. An empty value indexes as empty: "no phone" is not worth hiding and must
    not collide with a real value.
    """
    if not normalized:
        return ""
    key = index_subkey(key_ring().index_key, domain)
    return hmac.new(key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
