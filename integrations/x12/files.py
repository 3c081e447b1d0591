"""Payload files on disk: private to the hub's user from their first byte.

X12 files carry PHI in clear (the far side reads X12 5010, not our ciphertext), so
they are written 0600 in 0700 directories and deleted once the ledger holds them.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(directory: Path) -> Path:
    """``directory``, made readable by the hub's user only if this creates it (a
    directory an operator chose, ``submit_claims --out``, keeps its own mode)."""
    if not directory.is_dir():
        directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        directory.chmod(PRIVATE_DIR)  # mkdir's mode is narrowed by the umask only
    return directory


def write_private(directory: Path, name: str, payload: str) -> Path:
    """Write a payload file atomically, mode 0600 from its first byte (never 0644 and
    then narrowed: a reader racing the chmod would get it)."""
    private_dir(directory)
    final = directory / name
    temp = directory / f".{name}.part"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, final)
    return final
