"""X12 5010 plumbing shared by every transaction: reading segments and writing envelopes.

An interchange declares its own delimiters in the fixed-width ISA segment (ISA is always
106 characters: element separator at offset 3, repetition at 82, component at 104,
segment terminator at 105), so the reader takes them from there instead of assuming
``*``, ``:`` and ``~``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from config.inputs import CONTROL_CHARS

ELEMENT = "*"
COMPONENT = ":"
REPETITION = "^"
TERMINATOR = "~"
_SEPARATORS = re.compile(f"[{re.escape(ELEMENT + TERMINATOR)}]|{CONTROL_CHARS.pattern}")

# Errors people read (the ledger's last_error, command output). Constants so tests
# can assert on them.
ERR_EMPTY = "The file is empty."
ERR_NO_ISA = "The file does not start with an ISA interchange header."
ERR_SHORT_ISA = "The ISA header is truncated (an ISA segment is 106 characters)."
ERR_NO_IEA = "The interchange is truncated: no IEA trailer."
ERR_IEA_COUNT = "IEA01 says {declared} functional group(s) but the interchange holds {actual}."
ERR_IEA_CONTROL = "IEA02 ({iea}) does not match ISA13 ({isa})."
ERR_GE_COUNT = "GE01 says {declared} transaction(s) but group {group} holds {actual}."
ERR_GE_CONTROL = "GE02 ({ge}) does not match GS06 ({gs})."
ERR_NO_SE = "Transaction set {st} is truncated: no SE trailer."
ERR_SE_COUNT = "SE01 says {declared} segments but transaction set {st} holds {actual}."
ERR_SE_CONTROL = "SE02 ({se}) does not match ST02 ({st})."
ERR_NO_GE = "Functional group {group} is truncated: no GE trailer."
ERR_WRONG_TYPE = "Expected a {expected} transaction, found {found}."
ERR_BAD_AMOUNT = "Segment {segment} has a malformed amount {value!r}."


class X12Error(ValueError):
    """Malformed X12. The message says what is wrong in terms an analyst can check."""


@dataclass
class Segment:
    id: str
    elements: list[str]  # elements[0] is the first data element (e.g. NM101)

    def get(self, position: int, default: str = "") -> str:
        """Element by its 1-based X12 position (NM103 -> get(3))."""
        if 1 <= position <= len(self.elements):
            return self.elements[position - 1]
        return default

    def components(self, position: int, separator: str = COMPONENT) -> list[str]:
        return self.get(position).split(separator)

    def __str__(self) -> str:
        return ELEMENT.join([self.id, *self.elements])


@dataclass
class Transaction:
    st_control: str
    code: str  # ST01: 270, 271, 837, 835, 999, 277
    version: str  # ST03, e.g. 005010X279A1
    segments: list[Segment]  # between ST and SE, exclusive


@dataclass
class Group:
    functional_id: str  # GS01: HS, HB, HC, HP, FA, HN
    sender: str
    receiver: str
    control: str
    version: str
    transactions: list[Transaction] = field(default_factory=list)


@dataclass
class Interchange:
    sender: str  # ISA06 (trimmed)
    receiver: str  # ISA08
    control: str  # ISA13
    usage: str  # ISA15
    component: str
    groups: list[Group] = field(default_factory=list)

    @property
    def transactions(self) -> Iterator[Transaction]:
        for group in self.groups:
            yield from group.transactions


def _split_segments(raw: str) -> tuple[list[Segment], str, str]:
    text = raw.lstrip("\ufeff").lstrip()
    if not text:
        raise X12Error(ERR_EMPTY)
    if not text.startswith("ISA"):
        raise X12Error(ERR_NO_ISA)
    if len(text) < 106:
        raise X12Error(ERR_SHORT_ISA)
    element, component, terminator = text[3], text[104], text[105]
    segments = []
    for chunk in text.split(terminator):
        chunk = chunk.strip("\r\n ")
        if not chunk:
            continue
        parts = chunk.split(element)
        segments.append(Segment(parts[0], parts[1:]))
    return segments, component, terminator


def parse_interchange(raw: str) -> Interchange:
    """Read an interchange and check its envelopes: counts and control numbers must agree."""
    segments, component, _ = _split_segments(raw)
    isa = segments[0]
    if len(isa.elements) < 16:
        raise X12Error(ERR_SHORT_ISA)
    inter = Interchange(
        sender=isa.get(6).strip(),
        receiver=isa.get(8).strip(),
        control=isa.get(13).strip(),
        usage=isa.get(15).strip(),
        component=component,
    )
    i = 1
    group: Group | None = None
    saw_iea = False
    while i < len(segments):
        seg = segments[i]
        if seg.id == "GS":
            group = Group(seg.get(1), seg.get(2), seg.get(3), seg.get(6), seg.get(8))
            inter.groups.append(group)
        elif seg.id == "ST":
            if group is None:
                raise X12Error(ERR_NO_GE.format(group="(none)"))
            body: list[Segment] = []
            j = i + 1
            while j < len(segments) and segments[j].id not in {"SE", "ST", "GE", "IEA"}:
                body.append(segments[j])
                j += 1
            if j >= len(segments) or segments[j].id != "SE":
                raise X12Error(ERR_NO_SE.format(st=seg.get(2)))
            se = segments[j]
            if _int(se.get(1)) != len(body) + 2:
                raise X12Error(
                    ERR_SE_COUNT.format(declared=se.get(1), st=seg.get(2), actual=len(body) + 2)
                )
            if se.get(2) != seg.get(2):
                raise X12Error(ERR_SE_CONTROL.format(se=se.get(2), st=seg.get(2)))
            group.transactions.append(Transaction(seg.get(2), seg.get(1), seg.get(3), body))
            i = j
        elif seg.id == "GE":
            if group is None:
                raise X12Error(ERR_NO_GE.format(group="(none)"))
            if _int(seg.get(1)) != len(group.transactions):
                raise X12Error(
                    ERR_GE_COUNT.format(
                        declared=seg.get(1), group=group.control, actual=len(group.transactions)
                    )
                )
            if seg.get(2) != group.control:
                raise X12Error(ERR_GE_CONTROL.format(ge=seg.get(2), gs=group.control))
            group = None
        elif seg.id == "IEA":
            if group is not None:
                raise X12Error(ERR_NO_GE.format(group=group.control))
            if _int(seg.get(1)) != len(inter.groups):
                raise X12Error(ERR_IEA_COUNT.format(declared=seg.get(1), actual=len(inter.groups)))
            if seg.get(2).strip() != inter.control:
                raise X12Error(ERR_IEA_CONTROL.format(iea=seg.get(2), isa=inter.control))
            saw_iea = True
            break
        i += 1
    if group is not None:
        raise X12Error(ERR_NO_GE.format(group=group.control))
    if not saw_iea:
        raise X12Error(ERR_NO_IEA)
    return inter


def only_transactions(inter: Interchange, code: str) -> list[Transaction]:
    found = list(inter.transactions)
    for tx in found:
        if tx.code != code:
            raise X12Error(ERR_WRONG_TYPE.format(expected=code, found=tx.code))
    return found


def sniff_type(raw: str) -> str:
    """The ST01 of the first transaction ("835", "271"...), or "" if there is none."""
    match = re.search(r"ST(.)(\d{3})\1", raw[:2000])
    return match.group(2) if match else ""


def _int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        return -1


def amount(value: str, segment: str = "") -> Decimal:
    """An X12 R (decimal) element; blank is zero."""
    if not value.strip():
        return Decimal("0")
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise X12Error(ERR_BAD_AMOUNT.format(segment=segment, value=value)) from None


def money(value: Decimal) -> str:
    """X12 R: no trailing zeros beyond need, no leading +, two decimals at most."""
    q = value.quantize(Decimal("0.01"))
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def clean(value: str, limit: int | None = None) -> str:
    """Make a value safe inside an element: no delimiters or control characters, upper
    case, trimmed."""
    out = CONTROL_CHARS.sub(" ", re.sub(r"[*~:^]", " ", value or "")).strip().upper()
    return out[:limit] if limit else out


@dataclass(frozen=True)
class Envelope:
    sender_id: str
    receiver_id: str
    interchange_control: int
    group_control: int
    functional_id: str  # HS (270), HC (837), HP (835), FA (999), HN (277), HB (271)
    version: str  # GS08, e.g. 005010X222A1
    at: datetime
    usage: str = "T"


def envelope(env: Envelope, transactions: Sequence[tuple[str, list[str]]]) -> str:
    """Wrap transaction bodies (ST01 code, segments without ST/SE) in ST/SE, GS/GE, ISA/IEA.

    ST02 numbers the sets 0001, 0002... within the group; SE01 counts ST and SE too.
    """
    isa = ELEMENT.join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            env.sender_id.ljust(15)[:15],
            "ZZ",
            env.receiver_id.ljust(15)[:15],
            env.at.strftime("%y%m%d"),
            env.at.strftime("%H%M"),
            REPETITION,
            "00501",
            f"{env.interchange_control:09d}",
            "0",
            env.usage,
            COMPONENT,
        ]
    )
    out = [
        isa,
        ELEMENT.join(
            [
                "GS",
                env.functional_id,
                env.sender_id,
                env.receiver_id,
                env.at.strftime("%Y%m%d"),
                env.at.strftime("%H%M"),
                str(env.group_control),
                "X",
                env.version,
            ]
        ),
    ]
    for n, (code, body) in enumerate(transactions, start=1):
        control = f"{n:04d}"
        # The 835 guide marks ST03 "not used"; every other 5010 guide requires it.
        st = ["ST", code, control] if code == "835" else ["ST", code, control, env.version]
        out.append(ELEMENT.join(st))
        out.extend(body)
        out.append(ELEMENT.join(["SE", str(len(body) + 2), control]))
    out.append(ELEMENT.join(["GE", str(len(transactions)), str(env.group_control)]))
    out.append(ELEMENT.join(["IEA", "1", f"{env.interchange_control:09d}"]))
    return TERMINATOR.join(out) + TERMINATOR + "\n"


def seg(*elements: object) -> str:
    """One segment from its id and elements, dropping trailing empty elements (X12 rule).

    No element can end its segment or start another: the element separator, the
    segment terminator and control characters (CR and LF included) become spaces here,
    for every writer, whether or not its values went through ``clean`` (composites such
    as ``A1:19:PR`` keep their component separators)."""
    parts = ["" if e is None else _SEPARATORS.sub(" ", str(e)) for e in elements]
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return ELEMENT.join(parts)


def nm1(
    entity: str,
    entity_type: str,
    name: str,
    first_name: str = "",
    id_qualifier: str = "",
    identifier: str = "",
) -> str:
    """An NM1 name segment (X12 5010, every loop's 1000/2010 name).

    NM102 is "1" for a person, "2" for an organization; NM105-NM107 (middle name, prefix,
    suffix) are never sent by the hub. Values go in as already cleaned and truncated:
    each loop has its own limits and fallbacks.
    """
    return seg("NM1", entity, entity_type, name, first_name, "", "", "", id_qualifier, identifier)


def d8(value: str) -> date | None:
    """An X12 D8 date (CCYYMMDD); None when blank or impossible.

    Sliced by hand: strptime was a visible share of parsing a 5,000-subscriber 271.
    """
    v = value.strip()
    if len(v) != 8 or not v.isdigit():
        return None
    try:
        return date(int(v[:4]), int(v[4:6]), int(v[6:]))
    except ValueError:
        return None
