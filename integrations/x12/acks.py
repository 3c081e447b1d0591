"""Acknowledgements of a submitted 837P: the 999 (syntax, 005010X231A1) and the 277CA
(claim acknowledgement, 005010X214), read by us and built by the sandbox payer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from billing.types import ClaimAck, FunctionalAck

from .core import (
    COMPONENT,
    Envelope,
    Segment,
    X12Error,
    clean,
    envelope,
    money,
    nm1,
    parse_interchange,
    seg,
)

ERR_NOT_ACK = "The file is neither a 999 nor a 277CA acknowledgement."

# STC01-1 claim status categories (code list 507) that mean the payer took the claim in.
ACCEPTED_CATEGORIES = {"A0", "A1", "A2", "A5"}


def build_999(
    *, env: Envelope, group_control: str, transaction_controls: Sequence[str], code: str = "A"
) -> str:
    body = [seg("AK1", "HC", group_control, "005010X222A1")]
    for control in transaction_controls:
        body += [seg("AK2", "837", control, "005010X222A1"), seg("IK5", code)]
    n = len(transaction_controls)
    accepted = n if code in {"A", "E"} else 0
    body.append(seg("AK9", code, str(n), str(n), str(accepted)))
    return envelope(env, [("999", body)])


def build_277ca(
    *,
    env: Envelope,
    payer_name: str,
    payer_code: str,
    submitter_id: str,
    batch_reference: str,
    billing_npi: str = "",
    claims: Sequence[tuple[ClaimAck, object, date, str, str]],
) -> str:
    """claims: (ack, total charge, service date, patient last name, member id)."""
    today = env.at.strftime("%Y%m%d")
    accepted = [c for c in claims if c[0].accepted]
    rejected = [c for c in claims if not c[0].accepted]
    body = [
        seg("BHT", "0085", "08", clean(batch_reference, 50), today, env.at.strftime("%H%M"), "TH"),
        seg("HL", "1", "", "20", "1"),
        nm1("PR", "2", clean(payer_name, 60), "", "PI", clean(payer_code, 80)),
        seg("TRN", "1", clean(batch_reference, 50)),
        seg("DTP", "050", "D8", today),
        seg("DTP", "009", "D8", today),
        seg("HL", "2", "1", "21", "1"),
        nm1("41", "2", "CARE HUB", "", "46", clean(submitter_id, 80)),
        seg("TRN", "2", clean(batch_reference, 50)),
        seg("STC", "A1:19:PR", today, "WQ", money(sum((_dec(c[1]) for c in claims), _dec(0)))),
        seg("QTY", "90", str(len(accepted))) if accepted else "",
        seg("QTY", "AA", str(len(rejected))) if rejected else "",
        seg("HL", "3", "2", "19", "1"),
        nm1("85", "2", "BILLING PROVIDER", "", "XX", billing_npi or "1234567893"),
        seg("TRN", "1", "0"),
        seg("STC", "A1:19:PR", "", "WQ", money(sum((_dec(c[1]) for c in claims), _dec(0)))),
    ]
    body = [b for b in body if b]
    hl = 3
    for ack, total, service_date, last_name, member_id in claims:
        hl += 1
        body += [
            seg("HL", str(hl), "3", "PT"),
            nm1(
                "QC",
                "1",
                clean(last_name, 60) or "UNKNOWN",
                "",
                "MI",
                clean(member_id, 80) or "UNKNOWN",
            ),
            seg("TRN", "2", clean(ack.claim_number, 50)),
            seg(
                "STC",
                COMPONENT.join([ack.category, ack.status, "PR" if ack.accepted else ""]).rstrip(
                    COMPONENT
                ),
                today,
                "WQ" if ack.accepted else "U",
                money(_dec(total)),
            ),
        ]
        if ack.payer_claim_number:
            body.append(seg("REF", "1K", clean(ack.payer_claim_number, 50)))
        body.append(seg("DTP", "472", "D8", service_date.strftime("%Y%m%d")))
    return envelope(env, [("277", body)])


def _dec(value: object) -> Decimal:
    return Decimal(str(value))


def parse_ack(raw: str) -> tuple[list[FunctionalAck], list[ClaimAck]]:
    """Whatever acknowledgements the file holds: 999 group acks and 277CA claim acks."""
    inter = parse_interchange(raw)
    functional: list[FunctionalAck] = []
    claims: list[ClaimAck] = []
    found = False
    s: Segment | None
    for tx in inter.transactions:
        if tx.code == "999":
            found = True
            group = ""
            errors: list[str] = []
            for s in tx.segments:
                if s.id == "AK1":
                    group = s.get(2)
                elif s.id in {"IK3", "IK4"}:
                    errors.append("*".join([s.id, *s.elements]))
                elif s.id == "AK9":
                    functional.append(FunctionalAck(group, s.get(1), tuple(errors)))
        elif tx.code == "277":
            found = True
            level = ""
            claim_number = payer_number = ""
            status: tuple[str, str] | None = None
            segments: list[Segment | None] = [*tx.segments, None]
            for s in segments:
                if s is None or s.id == "HL":
                    if level == "PT" and claim_number and status:
                        claims.append(
                            ClaimAck(
                                claim_number=claim_number,
                                category=status[0],
                                status=status[1],
                                accepted=status[0] in ACCEPTED_CATEGORIES,
                                payer_claim_number=payer_number,
                            )
                        )
                    if s is None:
                        break
                    level = s.get(3)
                    claim_number = payer_number = ""
                    status = None
                elif level == "PT" and s.id == "TRN":
                    claim_number = s.get(2)
                elif level == "PT" and s.id == "STC" and status is None:
                    parts = [*s.get(1).split(inter.component), "", ""]
                    status = (parts[0], parts[1])
                elif level == "PT" and s.id == "REF" and s.get(1) == "1K":
                    payer_number = s.get(2)
    if not found:
        raise X12Error(ERR_NOT_ACK)
    return functional, claims
