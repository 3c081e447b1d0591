"""PHI encrypted at rest: AES-256-GCM field encryption with keyed blind indexes.

See the README section "PHI at rest" for the design, the keys and what each index leaks.
"""

from __future__ import annotations

from .cipher import (
    DecryptionError,
    blind_index,
    decrypt_text,
    encrypt_text,
    is_ciphertext,
    key_id_of,
    key_ring,
)
from .normalize import fold_name

__all__ = [
    "DecryptionError",
    "blind_index",
    "decrypt_text",
    "encrypt_text",
    "fold_name",
    "is_ciphertext",
    "key_id_of",
    "key_ring",
]
