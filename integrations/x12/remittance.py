"""835 health care claim payment/advice, 005010X221A1: read (ours) and build (sandbox payer).

Loop 2100 (CLP) is one claim: CLP01 echoes our CLM01, CLP02 its status (1-3 processed,
4 denied, 22 reversal of a previous payment), CAS the adjustments by group (CO, PR, OA,
PI, CR) and CARC, 2110 (SVC) the service lines with their own CAS and LQ*HE remark
codes (RARC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from billing.types import AdjustmentData, ClaimPayment, RemittanceAdvice, ServicePayment

from .core import (
    COMPONENT,
    Envelope,
    Segment,
    X12Error,
    amount,
    clean,
    d8,
    envelope,
    money,
    nm1,
    parse_interchange,
    seg,
)

VERSION = "005010X221A1"

ERR_NOT_835 = "The file holds no 835 remittance advice."
ERR_NO_PAYER = "The 835 names no payer (N1*PR) or payer identifier."
ERR_NO_BPR = "The 835 has no BPR payment segment."
ERR_CLP_TOTAL = (
    "The 835 does not balance: BPR02 is {bpr} but the claims pay {claims} (after provider-level "
    "adjustments {plb})."
)


def _d8(value: str) -> date | None:
    return d8(value)


def _cas(s: Segment) -> list[AdjustmentData]:
    """CAS carries up to six (reason, amount, quantity) triplets after the group code."""
    out = []
    group = s.get(1)
    for i in range(2, 19, 3):
        reason = s.get(i)
        if not reason:
            continue
        out.append(AdjustmentData(group=group, reason=reason, amount=amount(s.get(i + 1), "CAS")))
    return out


@dataclass
class _Service:
    procedure_code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units: int
    service_date: date | None = None
    adjustments: list[AdjustmentData] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def freeze(self) -> ServicePayment:
        return ServicePayment(
            procedure_code=self.procedure_code,
            modifiers=self.modifiers,
            charge=self.charge,
            paid=self.paid,
            units=self.units,
            service_date=self.service_date,
            adjustments=tuple(self.adjustments),
            remarks=tuple(self.remarks),
        )


@dataclass
class _Claim:
    clp01: str
    status_code: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    payer_claim_number: str
    adjustments: list[AdjustmentData] = field(default_factory=list)
    services: list[_Service] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    patient_last_name: str = ""
    member_id: str = ""

    def freeze(self) -> ClaimPayment:
        return ClaimPayment(
            clp01=self.clp01,
            status_code=self.status_code,
            charge=self.charge,
            paid=self.paid,
            patient_responsibility=self.patient_responsibility,
            payer_claim_number=self.payer_claim_number,
            adjustments=tuple(self.adjustments),
            remarks=tuple(self.remarks),
            patient_last_name=self.patient_last_name,
            member_id=self.member_id,
            services=tuple(sv.freeze() for sv in self.services),
        )


def parse_835(raw: str) -> list[RemittanceAdvice]:
    """Every 835 transaction in the interchange. Raises ``X12Error`` when malformed."""
    inter = parse_interchange(raw)
    transactions = list(inter.transactions)
    if not transactions or any(tx.code != "835" for tx in transactions):
        raise X12Error(ERR_NOT_835)
    out = []
    for tx in transactions:
        payer_name = payer_code = trace = trace_payer = method = payee_npi = ""
        total = Decimal("0")
        paid_on: date | None = None
        saw_bpr = False
        plb_total = Decimal("0")
        claims: list[_Claim] = []
        claim: _Claim | None = None
        service: _Service | None = None
        entity = ""
        for s in tx.segments:
            if s.id == "BPR":
                saw_bpr = True
                total = amount(s.get(2), "BPR")
                method = s.get(4)
                paid_on = _d8(s.get(16))
            elif s.id == "TRN":
                trace, trace_payer = s.get(2), s.get(3)
            elif s.id == "N1":
                entity = s.get(1)
                if entity == "PR":
                    payer_name = s.get(2)
                    if s.get(3) in {"XV", "PI"}:
                        payer_code = s.get(4)
                elif entity == "PE" and s.get(3) == "XX":
                    payee_npi = s.get(4)
            elif s.id == "REF" and entity == "PR" and claim is None and s.get(1) == "2U":
                payer_code = s.get(2)
            elif s.id == "CLP":
                service = None
                claim = _Claim(
                    clp01=s.get(1),
                    status_code=s.get(2),
                    charge=amount(s.get(3), "CLP"),
                    paid=amount(s.get(4), "CLP"),
                    patient_responsibility=amount(s.get(5), "CLP"),
                    payer_claim_number=s.get(7),
                )
                claims.append(claim)
            elif s.id == "SVC" and claim is not None:
                parts = s.get(1).split(inter.component)
                service = _Service(
                    procedure_code=parts[1] if len(parts) > 1 else parts[0],
                    modifiers=tuple(p for p in parts[2:] if p),
                    charge=amount(s.get(2), "SVC"),
                    paid=amount(s.get(3), "SVC"),
                    units=int(amount(s.get(5) or "1", "SVC")),
                )
                claim.services.append(service)
            elif s.id == "CAS" and claim is not None:
                (service or claim).adjustments.extend(_cas(s))
            elif s.id == "LQ" and service is not None and s.get(1) == "HE":
                service.remarks.append(s.get(2))
            elif s.id in {"MOA", "MIA"} and claim is not None:
                claim.remarks.extend(e for e in s.elements[2:7] if e and not e[0].isdigit())
            elif s.id == "NM1" and claim is not None and s.get(1) == "QC":
                claim.patient_last_name = s.get(3)
                claim.member_id = s.get(9)
            elif s.id == "DTM" and service is not None and s.get(1) in {"472", "150"}:
                service.service_date = _d8(s.get(2))
            elif s.id == "PLB":
                for i in range(4, 15, 2):
                    if s.get(i):
                        plb_total += amount(s.get(i), "PLB")
        if not saw_bpr:
            raise X12Error(ERR_NO_BPR)
        if not payer_code and trace_payer:
            payer_code = trace_payer
        if not payer_name and not payer_code:
            raise X12Error(ERR_NO_PAYER)
        paid = sum((c.paid for c in claims), Decimal("0"))
        # Provider-level adjustments (PLB) reduce the check: BPR02 = sum(CLP04) - sum(PLB).
        if paid - plb_total != total:
            raise X12Error(ERR_CLP_TOTAL.format(bpr=total, claims=paid, plb=plb_total))
        out.append(
            RemittanceAdvice(
                payer_name=payer_name,
                payer_code=payer_code,
                trace_number=trace,
                total_paid=total,
                payment_date=paid_on,
                payment_method=method,
                payee_npi=payee_npi,
                claims=tuple(c.freeze() for c in claims),
            )
        )
    return out


def build_835(
    advice: RemittanceAdvice,
    *,
    env: Envelope,
    payer_address: tuple[str, str, str, str],
    payer_tax_id: str,
    payee_name: str,
) -> str:
    """The sandbox payer's remittance for the claims it adjudicated."""
    pay_date = advice.payment_date or env.at.date()
    if advice.total_paid > 0:
        bpr = seg(
            "BPR",
            "I",
            money(advice.total_paid),
            "C",
            "CHK",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            pay_date.strftime("%Y%m%d"),
        )
    else:
        bpr = seg(
            "BPR",
            "H",
            "0",
            "C",
            "NON",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            pay_date.strftime("%Y%m%d"),
        )
    body = [
        bpr,
        seg("TRN", "1", clean(advice.trace_number, 50), "1" + payer_tax_id[:9]),
        seg("DTM", "405", pay_date.strftime("%Y%m%d")),
        seg("N1", "PR", clean(advice.payer_name, 60)),
        seg("N3", clean(payer_address[0], 55)),
        seg("N4", clean(payer_address[1], 30), payer_address[2], payer_address[3]),
        seg("REF", "2U", clean(advice.payer_code, 50)),
        seg("PER", "BL", "PROVIDER SERVICES", "TE", "8005550199"),
        seg("N1", "PE", clean(payee_name, 60), "XX", advice.payee_npi),
        seg("LX", "1"),
    ]
    for c in advice.claims:
        body.append(
            seg(
                "CLP",
                clean(c.clp01, 38),
                c.status_code,
                money(c.charge),
                money(c.paid),
                money(c.patient_responsibility) if c.patient_responsibility else "",
                "12",
                clean(c.payer_claim_number, 50),
                "11",
                "1",
            )
        )
        body += _cas_segments(c.adjustments)
        body.append(
            nm1(
                "QC",
                "1",
                clean(c.patient_last_name, 60) or "UNKNOWN",
                "",
                "MI",
                clean(c.member_id, 80),
            )
        )
        for sv in c.services:
            procedure = COMPONENT.join(["HC", clean(sv.procedure_code, 48), *sv.modifiers])
            body.append(seg("SVC", procedure, money(sv.charge), money(sv.paid), "", str(sv.units)))
            if sv.service_date:
                body.append(seg("DTM", "472", sv.service_date.strftime("%Y%m%d")))
            body += _cas_segments(sv.adjustments)
            allowed = sv.charge - sum(
                (a.amount for a in sv.adjustments if a.group == "CO"), Decimal("0")
            )
            if c.status_code != "22":
                body.append(seg("AMT", "B6", money(allowed)))
            body += [seg("LQ", "HE", r) for r in sv.remarks]
    return envelope(env, [("835", body)])


def _cas_segments(adjustments: Sequence[AdjustmentData]) -> list[str]:
    by_group: dict[str, list[AdjustmentData]] = {}
    for a in adjustments:
        by_group.setdefault(a.group, []).append(a)
    out = []
    for group, items in by_group.items():
        elements: list[str] = []
        for a in items[:6]:
            elements += [a.reason, money(a.amount), ""]
        out.append(seg("CAS", group, *elements))
    return out
