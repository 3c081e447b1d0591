"""837P professional claim, 005010X222A1: build (ours) and read (the sandbox payer's side).

HL hierarchy (implementation guide section 2.3.2.1): one 2000A billing provider (HL03=20)
per billing NPI; under it one 2000B subscriber (22) per claim; a 2000C patient (23)
only when the patient is not the subscriber, and then the subscriber HL's HL04 child
code is 1. CLM02 must equal the sum of the SV102 line charges.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from billing.types import Address, ClaimData, Person

from .core import (
    COMPONENT,
    Envelope,
    clean,
    d8,
    envelope,
    money,
    nm1,
    only_transactions,
    parse_interchange,
    seg,
)

VERSION = "005010X222A1"


def _zip9(zip_code: str) -> str:
    # 2010AA N403 must carry nine digits; a five-digit ZIP is padded with the USPS
    # placeholder +4 rather than rejected.
    digits = "".join(c for c in zip_code if c.isdigit())
    return (digits + "9998")[:9] if len(digits) == 5 else digits[:9] or "000000000"


def _address(a: Address, *, nine: bool = False) -> list[str]:
    zip_code = _zip9(a.zip_code) if nine else "".join(c for c in a.zip_code if c.isdigit())[:9]
    return [
        seg("N3", clean(a.line, 55) or "UNKNOWN"),
        seg("N4", clean(a.city, 30) or "UNKNOWN", clean(a.state, 2) or "CO", zip_code or "00000"),
    ]


def _dmg(p: Person) -> list[str]:
    if p.date_of_birth is None:
        return []
    return [seg("DMG", "D8", p.date_of_birth.strftime("%Y%m%d"), p.sex if p.sex in "FMU" else "U")]


def claim_total(claim: ClaimData) -> Decimal:
    return sum((line.amount for line in claim.lines), Decimal("0"))


def build_837p(
    claims: Sequence[ClaimData],
    *,
    env: Envelope,
    reference: str,
    submitter_name: str,
    submitter_phone: str,
) -> str:
    """One 837P transaction holding every claim, grouped by billing provider."""
    if not claims:
        raise ValueError("no claims")
    body = [
        seg(
            "BHT",
            "0019",
            "00",
            clean(reference, 30),
            env.at.strftime("%Y%m%d"),
            env.at.strftime("%H%M"),
            "CH",
        ),
        # 1000A submitter, 1000B receiver
        nm1("41", "2", clean(submitter_name, 60), "", "46", clean(env.sender_id, 80)),
        seg("PER", "IC", "BILLING OFFICE", "TE", submitter_phone),
        nm1("40", "2", "CLEARINGHOUSE", "", "46", clean(env.receiver_id, 80)),
    ]
    by_provider: OrderedDict[str, list[ClaimData]] = OrderedDict()
    for claim in claims:
        by_provider.setdefault(claim.billing_provider.npi, []).append(claim)
    hl = 0
    for group in by_provider.values():
        hl += 1
        provider_hl = hl
        bp = group[0].billing_provider
        body += [
            seg("HL", str(provider_hl), "", "20", "1"),
            nm1("85", "2", clean(bp.name, 60), "", "XX", bp.npi),
            *_address(bp.address, nine=True),
            seg("REF", "EI", bp.tax_id),
        ]
        for claim in group:
            hl += 1
            subscriber_hl = hl
            self_pay = claim.relationship == "18"
            sub = claim.subscriber
            body += [
                seg("HL", str(subscriber_hl), str(provider_hl), "22", "0" if self_pay else "1"),
                seg(
                    "SBR",
                    "P",
                    "18" if self_pay else "",
                    clean(claim.group_number, 50),
                    "",
                    "",
                    "",
                    "",
                    "",
                    claim.filing_indicator,
                ),
                nm1(
                    "IL",
                    "1",
                    clean(sub.last_name, 60),
                    clean(sub.first_name, 35),
                    "MI",
                    clean(claim.member_id, 80),
                ),
            ]
            if self_pay and sub.address is not None:
                body += _address(sub.address)
            if self_pay:
                body += _dmg(sub)
            body.append(
                nm1("PR", "2", clean(claim.payer_name, 60), "", "PI", clean(claim.payer_code, 80))
            )
            if not self_pay:
                hl += 1
                pat = claim.patient
                body += [
                    seg("HL", str(hl), str(subscriber_hl), "23", "0"),
                    seg("PAT", claim.relationship),
                    nm1("QC", "1", clean(pat.last_name, 60), clean(pat.first_name, 35)),
                    *_address(pat.address or Address("", "", "", "")),
                    *_dmg(pat),
                ]
            body += _claim_loop(claim)
    return envelope(env, [("837", body)])


def _claim_loop(claim: ClaimData) -> list[str]:
    total = claim_total(claim)
    out = [
        seg(
            "CLM",
            clean(claim.claim_number, 38),
            money(total),
            "",
            "",
            COMPONENT.join([claim.place_of_service, "B", claim.frequency]),
            "Y",
            "A",
            "Y",
            "Y",
        ),
    ]
    if claim.frequency == "7" and claim.original_reference:
        # Loop 2300 REF*F8: the payer claim control number of the claim being replaced.
        out.append(seg("REF", "F8", clean(claim.original_reference, 50)))
    codes = [("ABK" if i == 0 else "ABF") + COMPONENT + dx for i, dx in enumerate(claim.diagnoses)]
    out.append(seg("HI", *codes))
    out.append(
        nm1(
            "82",
            "1",
            clean(claim.rendering_last_name, 60),
            clean(claim.rendering_first_name, 35),
            "XX",
            claim.rendering_npi,
        )
    )
    for n, line in enumerate(claim.lines, start=1):
        procedure = COMPONENT.join(
            ["HC", clean(line.procedure_code, 48), *(clean(m, 2) for m in line.modifiers[:4])]
        )
        pointers = COMPONENT.join(str(p) for p in line.pointers[:4])
        out += [
            seg("LX", str(n)),
            seg("SV1", procedure, money(line.amount), "UN", str(line.units), "", "", pointers),
            seg("DTP", "472", "D8", line.service_date.strftime("%Y%m%d")),
        ]
    return out


# ---------------------------------------------------------------------------
# Reading an 837P (the sandbox payer adjudicates what it receives)
# ---------------------------------------------------------------------------
def parse_837p(raw: str) -> tuple[str, list[dict[str, object]]]:
    """Group control number and, per claim: number, total, member id, lines.

    Only what adjudication needs; we are not a payer.
    """
    inter = parse_interchange(raw)
    claims: list[dict[str, object]] = []
    group_control = inter.groups[0].control if inter.groups else ""
    for tx in only_transactions(inter, "837"):
        member_id = last_name = first_name = billing_npi = ""
        current: dict[str, object] | None = None
        for s in tx.segments:
            if s.id == "NM1" and s.get(1) == "85":
                billing_npi = s.get(9)
            elif s.id == "NM1" and s.get(1) == "IL":
                member_id, last_name, first_name = s.get(9), s.get(3), s.get(4)
            elif s.id == "CLM":
                current = {
                    "claim_number": s.get(1),
                    "total": Decimal(s.get(2) or "0"),
                    "member_id": member_id,
                    "billing_npi": billing_npi,
                    "last_name": last_name,
                    "first_name": first_name,
                    "lines": [],
                    "diagnoses": [],
                }
                claims.append(current)
            elif current is not None and s.id == "HI":
                current["diagnoses"] = [e.split(COMPONENT)[1] for e in s.elements if COMPONENT in e]
            elif current is not None and s.id == "SV1":
                parts = s.get(1).split(COMPONENT)
                lines = current["lines"]
                assert isinstance(lines, list)
                lines.append(
                    {
                        "code": parts[1] if len(parts) > 1 else "",
                        "modifiers": parts[2:],
                        "charge": Decimal(s.get(2) or "0"),
                        "units": int(Decimal(s.get(4) or "1")),
                        "service_date": None,
                    }
                )
            elif current is not None and s.id == "DTP" and s.get(1) == "472":
                lines = current["lines"]
                assert isinstance(lines, list)
                if lines:
                    lines[-1]["service_date"] = _d8(s.get(3))
    return group_control, claims


def _d8(value: str) -> date | None:
    return d8(value)
