"""MLLP framing (HL7 v2 Minimal Lower Layer Protocol, HL7 v2.5.1 appendix C)."""

from __future__ import annotations

import re
from dataclasses import dataclass

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"

UTF8_BOM = b"\xef\xbb\xbf"

# MSH-18 character sets (HL7 table 0211) we decode, by the Python codec that reads them.
# Empty MSH-18 means 7-bit ASCII by the standard; real v2.3 feeds put Latin-1 or
# Windows-1252 there undeclared, so an undeclared frame that is not UTF-8 is read as
# Latin-1 (every byte is a character there, nothing is lost).
CHARSETS = {
    "": "utf-8",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    **{f"8859/{n}": f"iso8859-{n}" for n in range(2, 10)},
}
ERR_UNDECODABLE = "frame is not valid {charset} as MSH-18 declares (byte {offset})"
ERR_CHARSET = "unsupported character set in MSH-18: {charset}"

_MSH18 = re.compile(rb"^MSH(.)(?:[^\r\n]*?\1){16}([^\r\n]*?)(?:\1|\r|\n|$)")


@dataclass(frozen=True)
class Decoded:
    text: str
    error: str = ""  # why the bytes could not be read as declared (the frame gets AE)


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


def declared_charset(payload: bytes) -> str:
    """MSH-18 (first repetition, first component), "" when absent."""
    match = _MSH18.match(payload[:4096])
    if not match:
        return ""
    value = match.group(2).split(b"~", 1)[0].split(b"^", 1)[0]
    return value.decode("ascii", "replace").strip().upper()


def decode(payload: bytes) -> Decoded:
    """The frame's text, read in the character set MSH-18 declares.

    A frame that is not valid in the charset it declares comes back with an error (and
    its bytes as Latin-1, so it can be kept exactly for inspection); an undeclared frame
    is UTF-8 when it is, else Latin-1. A UTF-8 byte-order mark, which some Windows
    engines put before MSH, is dropped.
    """
    if payload.startswith(UTF8_BOM):
        payload = payload[len(UTF8_BOM) :]
    charset = declared_charset(payload)
    codec = CHARSETS.get(charset)
    if codec is None:
        return Decoded(payload.decode("latin-1"), ERR_CHARSET.format(charset=charset[:20]))
    try:
        return Decoded(payload.decode(codec))
    except UnicodeDecodeError as exc:
        if not charset:
            return Decoded(payload.decode("latin-1"))
        return Decoded(
            payload.decode("latin-1"), ERR_UNDECODABLE.format(charset=charset, offset=exc.start)
        )
