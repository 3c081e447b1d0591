"""MLLP framing (HL7 v2 Minimal Lower Layer Protocol, HL7 v2.5.1 appendix C)."""

from __future__ import annotations

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"


def frame(message: str, encoding: str = "utf-8") -> bytes:
    return START_BLOCK + message.encode(encoding) + END_BLOCK


def unframe(block: bytes) -> bytes:
    """Strip the start and end markers (and stray whitespace between frames)."""
    block = block.lstrip(b"\r\n \t")
    if block.startswith(START_BLOCK):
        block = block[1:]
    if block.endswith(END_BLOCK):
        block = block[: -len(END_BLOCK)]
    return block


def decode(payload: bytes) -> str:
    """UTF-8 when it is, else Latin-1 (the default of many v2.3 systems), never an error."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")
