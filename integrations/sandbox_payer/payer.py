"""A sandbox payer and clearinghouse: the far side of a ``sandbox`` connector.

It behaves like a real one closely enough for demos and tests, and deterministically:
every answer is a function of the member id or the claim number, so the same inquiry
or claim always gets the same answer.

- 270: active coverage for most members, with plan dates (the calendar year), copay,
  deductible and remaining deductible, coinsurance (in and out of network), in several
  EB loops. Member ids starting ``INACTIVE`` (and 1 in 20 others) are inactive; ids
  starting ``NOTFOUND`` (and 1 in 25 others) get AAA 75 "subscriber not found"; ids
  starting ``ACTIVE`` are always active; an empty or one-character id gets AAA 72.
- 837P: a 999 accepting the group and a 277CA accepting each claim (claims for members
  it does not know are rejected, A7), both at once; an 835 later (released on the next
  pickup) that pays, partially pays or denies lines with CARC/RARC codes.

Its control numbers come from a counter file in its own directory: it is another
organisation's system and shares nothing with the hub's database. It keeps a log of the
inquiries it was sent (``inquiries.log``: arrival time and number of subscribers per
270), as a payer counting against its rate limit would.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from billing.types import (
    AdjustmentData,
    ClaimAck,
    ClaimPayment,
    RemittanceAdvice,
    ServicePayment,
)
from integrations.x12.acks import build_277ca, build_999
from integrations.x12.claims import parse_837p
from integrations.x12.core import Envelope, X12Error, money, parse_interchange, sniff_type
from integrations.x12.eligibility import build_271, parse_270, reference_of
from integrations.x12.files import private_dir, write_private
from integrations.x12.remittance import build_835

CENT = Decimal("0.01")


def _bucket(key: str, modulo: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % modulo


def member_profile(member_id: str, on: date) -> dict[str, object]:
    """What the payer knows about a member (deterministic)."""
    mid = member_id.strip().upper()
    if len(mid) < 2:
        return {"error": "72"}
    # ACTIVE... always has coverage: tests and demos that need a sure answer use it.
    sure = mid.startswith("ACTIVE")
    if mid.startswith("NOTFOUND") or (not sure and _bucket("nf" + mid, 25) == 0):
        return {"error": "75"}
    plan_begin, plan_end = date(on.year, 1, 1), date(on.year, 12, 31)
    if mid.startswith("INACTIVE") or (not sure and _bucket("in" + mid, 20) == 0):
        # Coverage ended last year: the dates are the old plan year's.
        return {
            "active": False,
            "plan_name": "TERMINATED",
            "plan_begin": date(on.year - 1, 1, 1),
            "plan_end": date(on.year - 1, 12, 31),
        }
    deductible = Decimal([50, 75, 100][_bucket("d" + mid, 3)])
    used = (deductible * Decimal(_bucket("u" + mid, 5)) / 4).quantize(CENT)
    return {
        "active": True,
        "plan_name": ["DENTAL PPO", "DENTAL PREMIER", "DENTAL HMO"][_bucket("p" + mid, 3)],
        "plan_begin": plan_begin,
        "plan_end": plan_end,
        "copay": Decimal([0, 15, 25, 40][_bucket("c" + mid, 4)]),
        "deductible": deductible,
        "deductible_remaining": deductible - used,
        "coinsurance": Decimal(["0.2", "0.2", "0.3", "0.5"][_bucket("i" + mid, 4)]),
    }


def claim_outcome(claim_number: str) -> str:
    """paid (86 in 100), partial (8 in 100) or denied (6 in 100), by claim number: about
    what a dental group sees from its payers (a denial rate of 5-10 %), so the demo's
    revenue pages read like a real practice's. A partial payment needs a second line to
    deny; a one-line claim in that bucket is paid (see ``_adjudicate``)."""
    b = _bucket("claim" + claim_number, 100)
    return "paid" if b < 86 else "partial" if b < 94 else "denied"


class SandboxPayer:
    def __init__(self, *, root: Path, payer_name: str, payer_code: str) -> None:
        self.root = Path(root)
        self.payer_name = payer_name
        self.payer_code = payer_code
        self.pending = self.root / "payer_pending"

    def _log_inquiries(self, count: int) -> None:
        # One short O_APPEND write per 270: lines from several processes never interleave.
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "inquiries.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, f"{time.time():.6f} {count}\n".encode())
        finally:
            os.close(fd)

    # -- envelopes ---------------------------------------------------------
    def _next_control(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "payer_control_number"
        with open(path, "a+", encoding="ascii") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            value = int(fh.read().strip() or "0") + 1
            fh.seek(0)
            fh.truncate()
            fh.write(str(value))
        return value

    def _env(self, receiver: str, functional_id: str, version: str) -> Envelope:
        control = self._next_control()
        return Envelope(
            sender_id=self.payer_code,
            receiver_id=receiver,
            interchange_control=control,
            group_control=control,
            functional_id=functional_id,
            version=version,
            at=datetime.now(UTC),
        )

    # -- inbound -------------------------------------------------------------
    def receive(self, raw: str) -> list[tuple[str, str]]:
        """Answer a file we were sent; returns (file name, X12) answers available now."""
        kind = sniff_type(raw)
        try:
            inter = parse_interchange(raw)
        except X12Error:
            return []  # a real payer would send a TA1; the hub's ledger keeps what it sent
        if kind == "270":
            return [self._answer_270(raw, inter.sender)]
        if kind == "837":
            return self._accept_837(raw, inter.sender)
        return []

    def _answer_270(self, raw: str, receiver: str) -> tuple[str, str]:
        inquiries = parse_270(raw)
        self._log_inquiries(len(inquiries))
        answers = [(inq, member_profile(inq.member_id, inq.service_date)) for inq in inquiries]
        if self.payer_code.endswith("DOWN"):
            answers = [(inq, {"payer_error": "42"}) for inq in inquiries]
        env = self._env(receiver, "HB", "005010X279A1")
        body = build_271(
            answers,
            env=env,
            payer_name=self.payer_name,
            payer_code=self.payer_code,
            reference=reference_of(raw),
        )
        return (f"271_{env.interchange_control:09d}.x12", body)

    def _accept_837(self, raw: str, receiver: str) -> list[tuple[str, str]]:
        group_control, claims = parse_837p(raw)
        inter = parse_interchange(raw)
        controls = [tx.st_control for tx in inter.transactions]
        env999 = self._env(receiver, "FA", "005010X231A1")
        ack = build_999(env=env999, group_control=group_control, transaction_controls=controls)
        acks: list[tuple[ClaimAck, object, date, str, str]] = []
        payable = []
        for c in claims:
            number = str(c["claim_number"])
            known = "error" not in member_profile(str(c["member_id"]), datetime.now(UTC).date())
            lines = c["lines"]
            assert isinstance(lines, list)
            service_date = next((ln["service_date"] for ln in lines if ln["service_date"]), None)
            acks.append(
                (
                    ClaimAck(
                        claim_number=number,
                        category="A2" if known else "A7",
                        status="20" if known else "33",
                        accepted=known,
                        payer_claim_number=f"{self.payer_code}{_bucket(number, 10**9):09d}",
                    ),
                    c["total"],
                    service_date or datetime.now(UTC).date(),
                    str(c["last_name"]),
                    str(c["member_id"]),
                )
            )
            if known:
                payable.append(c)
        env277 = self._env(receiver, "HN", "005010X214")
        ca = build_277ca(
            env=env277,
            payer_name=self.payer_name,
            payer_code=self.payer_code,
            submitter_id=receiver,
            batch_reference=f"{group_control}",
            billing_npi=str(claims[0].get("billing_npi") or "") if claims else "",
            claims=acks,
        )
        if payable:
            env835 = self._env(receiver, "HP", "005010X221A1")
            remit = build_835(
                self._adjudicate(payable, env835.interchange_control),
                env=env835,
                payer_address=("PO BOX 1000", "DENVER", "CO", "80201"),
                payer_tax_id="841234567",
                payee_name="CARE HUB",
            )
            write_private(self.pending, f"835_{env835.interchange_control:09d}.x12", remit)
        return [
            (f"999_{env999.interchange_control:09d}.x12", ack),
            (f"277CA_{env277.interchange_control:09d}.x12", ca),
        ]

    def _adjudicate(self, claims: list[dict[str, object]], control: int) -> RemittanceAdvice:
        payments = []
        for c in claims:
            number = str(c["claim_number"])
            outcome = claim_outcome(number)
            lines = c["lines"]
            assert isinstance(lines, list)
            if outcome == "partial" and len(lines) < 2:
                outcome = "paid"  # denying a one-line claim's only line is a denial
            services = []
            for i, ln in enumerate(lines):
                charge = Decimal(ln["charge"])
                denied = outcome == "denied" or (outcome == "partial" and i == len(lines) - 1)
                if denied:
                    reason, remark = ("50", "N115") if outcome == "denied" else ("97", "M15")
                    services.append(
                        ServicePayment(
                            procedure_code=ln["code"],
                            modifiers=tuple(ln["modifiers"]),
                            charge=charge,
                            paid=Decimal("0"),
                            units=ln["units"],
                            service_date=ln["service_date"],
                            adjustments=(AdjustmentData("CO", reason, charge),),
                            remarks=(remark,),
                        )
                    )
                    continue
                allowed = (charge * Decimal("0.8")).quantize(CENT)
                coins = (allowed * Decimal("0.2")).quantize(CENT)
                services.append(
                    ServicePayment(
                        procedure_code=ln["code"],
                        modifiers=tuple(ln["modifiers"]),
                        charge=charge,
                        paid=allowed - coins,
                        units=ln["units"],
                        service_date=ln["service_date"],
                        adjustments=tuple(
                            a
                            for a in (
                                AdjustmentData("CO", "45", charge - allowed),
                                AdjustmentData("PR", "2", coins),
                            )
                            if a.amount
                        ),
                        remarks=(),
                    )
                )
            paid = sum((s.paid for s in services), Decimal("0"))
            patient = sum(
                (a.amount for s in services for a in s.adjustments if a.group == "PR"),
                Decimal("0"),
            )
            payments.append(
                ClaimPayment(
                    clp01=number,
                    status_code="4" if outcome == "denied" else "1",
                    charge=Decimal(str(c["total"])),
                    paid=paid,
                    patient_responsibility=patient,
                    payer_claim_number=f"{self.payer_code}{_bucket(number, 10**9):09d}",
                    adjustments=(),
                    services=tuple(services),
                    patient_last_name=str(c["last_name"]),
                    member_id=str(c["member_id"]),
                )
            )
        total = sum((p.paid for p in payments), Decimal("0"))
        return RemittanceAdvice(
            payer_name=self.payer_name,
            payer_code=self.payer_code,
            trace_number=f"{self.payer_code}{control:09d}",
            total_paid=total,
            payment_date=datetime.now(UTC).date(),
            payment_method="CHK" if total else "NON",
            claims=tuple(payments),
            payee_npi=str(claims[0].get("billing_npi") or ""),
        )

    def release_pending(self, inbox: Path) -> int:
        """Deliver the remittances adjudicated since the last pickup into the inbox."""
        if not self.pending.is_dir():
            return 0
        private_dir(inbox)
        moved = 0
        for path in sorted(self.pending.iterdir()):
            if path.is_file():
                os.replace(path, inbox / path.name)
                moved += 1
        return moved


__all__ = ["SandboxPayer", "claim_outcome", "member_profile", "money"]
