"""270 eligibility inquiry and 271 response, 005010X279A1.

One 270 carries one or many subscriber loops (2000C), each with a TRN trace we choose;
the payer echoes the trace in its 271 (TRN*2), which is how an answer finds its check.
Payers differ in style: plan dates in 2100C or 2110C, DTP 346/347 or 356/357 or a
291 range; coinsurance as 0.2 or 20; dental (35) or general (30) service types; AAA
rejections at the payer, provider or subscriber level. The parser accepts all of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from billing.types import BenefitLine, BenefitsSummary, EligibilityError

from .core import (
    Envelope,
    Segment,
    X12Error,
    amount,
    clean,
    d8,
    envelope,
    nm1,
    only_transactions,
    parse_interchange,
    seg,
)
from .types import EligibilityInquiry

VERSION = "005010X279A1"

# AAA03 reject reasons (X12 code list 901), in words a front desk can act on.
AAA_REASONS = {
    "04": "Authorized quantity exceeded",
    "15": "Required application data missing",
    "41": "Authorization / access restrictions",
    "42": "Payer unable to respond at this time",
    "43": "Invalid or missing provider identification",
    "44": "Invalid or missing provider name",
    "45": "Invalid or missing provider specialty",
    "47": "Invalid or missing provider state",
    "48": "Invalid or missing referring provider id",
    "50": "Provider ineligible for inquiries",
    "51": "Provider not on file",
    "52": "Service dates not within provider plan enrollment",
    "56": "Inappropriate date",
    "57": "Invalid or missing date(s) of service",
    "58": "Invalid or missing date of birth",
    "60": "Date of birth follows date(s) of service",
    "61": "Date of death precedes date(s) of service",
    "62": "Date of service not within allowable inquiry period",
    "63": "Date of service in future",
    "71": "Patient birth date does not match that for the patient on the database",
    "72": "Invalid or missing subscriber / insured id",
    "73": "Invalid or missing subscriber / insured name",
    "74": "Invalid or missing subscriber / insured gender code",
    "75": "Subscriber / insured not found",
    "76": "Duplicate subscriber / insured id",
    "78": "Subscriber / insured not in group / plan identified",
    "79": "Invalid participant identification",
    "97": "Invalid or missing provider address",
    "T4": "Payer name or identifier missing",
}

ERR_NOT_271 = "The file holds no 271 eligibility response."


def _information_receiver(first: EligibilityInquiry) -> list[str]:
    """Loops 2000B/2100B: the provider the 270 asks for and the 271 answers."""
    return [
        seg("HL", "2", "1", "21", "1"),
        nm1("1P", "2", clean(first.provider_name, 60), "", "XX", first.provider_npi),
    ]


def _subscriber(hl: int, inq: EligibilityInquiry, *, trace_type: str, originator: str) -> list[str]:
    """Loops 2000C/2100C up to the name: HL, TRN and NM1*IL.

    TRN01 is "1" (current transaction trace) in a 270 and "2" (referenced trace) in the
    271 that echoes it; TRN03 is "9" and the originator's id, padded to ten characters.
    """
    return [
        seg("HL", str(hl), "2", "22", "0"),
        seg("TRN", trace_type, clean(inq.trace, 50), "9" + clean(originator, 9).ljust(9, "0")),
        nm1(
            "IL",
            "1",
            clean(inq.last_name, 60),
            clean(inq.first_name, 35),
            "MI",
            clean(inq.member_id, 80),
        ),
    ]


def build_270(inquiries: Sequence[EligibilityInquiry], *, env: Envelope, reference: str) -> str:
    """One 270 transaction per payer and provider, a 2000C subscriber loop per inquiry."""
    if not inquiries:
        raise ValueError("no inquiries")
    first = inquiries[0]
    body = [
        seg(
            "BHT",
            "0022",
            "13",
            clean(reference, 50),
            env.at.strftime("%Y%m%d"),
            env.at.strftime("%H%M"),
        ),
        seg("HL", "1", "", "20", "1"),
        nm1("PR", "2", clean(first.payer_name, 60), "", "PI", clean(first.payer_code, 80)),
        *_information_receiver(first),
    ]
    hl = 2
    for inq in inquiries:
        hl += 1
        body += _subscriber(hl, inq, trace_type="1", originator=env.sender_id)
        if inq.date_of_birth:
            body.append(seg("DMG", "D8", inq.date_of_birth.strftime("%Y%m%d")))
        body += [
            seg("DTP", "291", "D8", inq.service_date.strftime("%Y%m%d")),
            seg("EQ", inq.service_type),
        ]
    return envelope(env, [("270", body)])


def reference_of(raw: str) -> str:
    """BHT03 of a 270/271: the submitter's reference the payer echoes."""
    match = re.search(r"BHT\*0022\*\d\d\*([^*~]*)", raw)
    return match.group(1) if match else ""


def parse_270(raw: str) -> list[EligibilityInquiry]:
    """The sandbox payer's side: read the inquiries back."""
    inter = parse_interchange(raw)
    out = []
    for tx in only_transactions(inter, "270"):
        payer_name = payer_code = provider_name = provider_npi = ""
        current: dict[str, object] | None = None
        for s in tx.segments:
            if s.id == "NM1" and s.get(1) == "PR":
                payer_name, payer_code = s.get(3), s.get(9)
            elif s.id == "NM1" and s.get(1) == "1P":
                provider_name, provider_npi = s.get(3), s.get(9)
            elif s.id == "HL" and s.get(3) == "22":
                if current is not None:
                    out.append(EligibilityInquiry(**current))  # type: ignore[arg-type]
                current = {
                    "trace": "",
                    "payer_name": payer_name,
                    "payer_code": payer_code,
                    "provider_name": provider_name,
                    "provider_npi": provider_npi,
                    "member_id": "",
                    "first_name": "",
                    "last_name": "",
                    "date_of_birth": None,
                    "service_date": date.today(),  # noqa: DTZ011 - replaced by DTP*291
                    "service_type": "30",
                }
            elif current is not None:
                if s.id == "TRN":
                    current["trace"] = s.get(2)
                elif s.id == "NM1" and s.get(1) == "IL":
                    current.update(last_name=s.get(3), first_name=s.get(4), member_id=s.get(9))
                elif s.id == "DMG":
                    current["date_of_birth"] = _d8(s.get(2))
                elif s.id == "DTP" and s.get(1) == "291":
                    current["service_date"] = _d8(s.get(3)[:8]) or current["service_date"]
                elif s.id == "EQ":
                    current["service_type"] = s.get(1)
        if current is not None:
            out.append(EligibilityInquiry(**current))  # type: ignore[arg-type]
    return out


def _d8(value: str) -> date | None:
    return d8(value)


def _dates(s: Segment) -> tuple[date | None, date | None]:
    """A DTP's value: D8 a single date, RD8 a range 'CCYYMMDD-CCYYMMDD'."""
    if s.get(2) == "RD8" and "-" in s.get(3):
        begin, end = s.get(3).split("-", 1)
        return _d8(begin), _d8(end)
    single = _d8(s.get(3))
    return single, single


def _percent(value: str) -> Decimal | None:
    if not value.strip():
        return None
    pct = amount(value, "EB08")
    # X12 sends a fraction (0.2); some payers send 20. Both mean 20 %.
    return (pct * 100 if pct <= 1 else pct).quantize(Decimal("0.01"))


GENERAL_SERVICE_TYPES = {"30", "35", ""}


def parse_271(raw: str) -> tuple[list[BenefitsSummary], list[EligibilityError], str]:
    """Benefits per subscriber loop, errors that concern the whole response, and BHT03
    (the 270's reference, echoed).

    Payer-level (2100A) and provider-level (2100B) AAA rejections apply to every
    subscriber in the file, so they are returned separately and also copied onto each
    summary. Raises ``X12Error`` for a malformed interchange.
    """
    inter = parse_interchange(raw)
    transactions = list(inter.transactions)
    if not transactions or any(tx.code != "271" for tx in transactions):
        raise X12Error(ERR_NOT_271)
    summaries: list[BenefitsSummary] = []
    shared: list[EligibilityError] = []
    reference = ""
    for tx in transactions:
        level = ""  # 20, 21, 22, 23
        in_eb = False
        payer_code = ""
        current: BenefitsSummary | None = None
        for s in tx.segments:
            if s.id == "BHT":
                reference = reference or s.get(3)
            if s.id == "HL":
                level = s.get(3)
                in_eb = False
                # A dependent (2000D) under a subscriber loop that carried no benefits is
                # the same inquiry answered one level down.
                if level == "22" or (level == "23" and (current is None or current.benefits)):
                    current = BenefitsSummary(trace="", payer_code=payer_code)
                    summaries.append(current)
                continue
            if s.id == "NM1" and s.get(1) == "PR":
                payer_code = s.get(9)
            if s.id == "AAA":
                loop = {"20": "2100A", "21": "2100B", "22": "2100C", "23": "2100D"}.get(level, "")
                if in_eb:
                    loop = "2110C" if level == "22" else "2110D"
                error = EligibilityError(
                    loop=loop,
                    code=s.get(3),
                    message=AAA_REASONS.get(s.get(3), f"Payer rejection {s.get(3)}"),
                    follow_up=s.get(4),
                )
                if level in {"20", "21"} or current is None:
                    shared.append(error)
                else:
                    current.errors.append(error)
                continue
            if current is None:
                continue
            if (s.id == "TRN" and s.get(1) == "2" and not current.trace) or (
                s.id == "TRN" and s.get(1) == "1" and not current.trace
            ):
                current.trace = s.get(2)
            elif s.id == "NM1" and s.get(1) in {"IL", "03"} and not in_eb:
                current.member_id = current.member_id or s.get(9)
            elif s.id == "DTP" and s.get(1) in {"346", "356", "291", "292", "307", "347", "357"}:
                begin, end = _dates(s)
                if s.get(1) in {"347", "357"}:
                    current.plan_end = current.plan_end or end
                elif s.get(1) in {"346", "356"}:
                    current.plan_begin = current.plan_begin or begin
                    if s.get(2) == "RD8":
                        current.plan_end = current.plan_end or end
                elif s.get(2) == "RD8" and not in_eb:
                    current.plan_begin = current.plan_begin or begin
                    current.plan_end = current.plan_end or end
            elif s.id == "EB":
                in_eb = True
                current.benefits.append(
                    BenefitLine(
                        info=s.get(1),
                        coverage_level=s.get(2),
                        service_types=tuple(t for t in s.get(3).split("^") if t),
                        plan_description=s.get(5),
                        time_period=s.get(6),
                        amount=amount(s.get(7), "EB07") if s.get(7).strip() else None,
                        percent=_percent(s.get(8)),
                        in_network=s.get(12),
                    )
                )
            elif s.id in {"LS", "LE", "MSG", "III", "REF", "NM1", "PER", "PRV", "HSD"}:
                continue
    for summary in summaries:
        summary.errors[:0] = shared
        _summarize(summary)
    return summaries, shared, reference


def _preferred(lines: list[BenefitLine]) -> BenefitLine | None:
    """Of several EB loops for one benefit, the one for the individual, in network, general."""

    def rank(b: BenefitLine) -> tuple[int, int, int]:
        general = 0 if (not b.service_types or set(b.service_types) & GENERAL_SERVICE_TYPES) else 1
        individual = 0 if b.coverage_level in {"IND", ""} else 1
        network = {"Y": 0, "W": 1, "": 1}.get(b.in_network, 2)
        return (general, network, individual)

    return min(lines, key=rank) if lines else None


def _summarize(s: BenefitsSummary) -> None:
    infos = {b.info for b in s.benefits}
    if infos & {"1", "2", "3", "4", "5"}:
        s.active = True
    elif infos & {"6", "7", "8", "V"}:
        s.active = False
    elif s.errors:
        s.active = None
    plan = next((b for b in s.benefits if b.info in {"1", "2", "3", "4", "5"}), None)
    if plan is not None:
        s.plan_name = plan.plan_description
    copay = _preferred([b for b in s.benefits if b.info == "B" and b.amount is not None])
    s.copay = copay.amount if copay else None
    remaining = [
        b for b in s.benefits if b.info == "C" and b.amount is not None and b.time_period == "29"
    ]
    if not remaining:
        # Some payers send only the deductible total; without a "remaining" figure the
        # total is what the patient may still owe.
        remaining = [b for b in s.benefits if b.info == "C" and b.amount is not None]
    chosen = _preferred(remaining)
    s.deductible_remaining = chosen.amount if chosen else None
    coins = _preferred([b for b in s.benefits if b.info == "A" and b.percent is not None])
    s.coinsurance_percent = coins.percent if coins else None


def build_271(
    answers: Sequence[tuple[EligibilityInquiry, dict[str, object]]],
    *,
    env: Envelope,
    payer_name: str,
    payer_code: str,
    reference: str = "",
) -> str:
    """The sandbox payer's 271. Each answer dict: active, plan_name, plan_begin, plan_end,
    copay, deductible, deductible_remaining, coinsurance (fraction), error (AAA03) or
    payer_error (AAA03 at 2100A)."""
    body = [
        seg(
            "BHT",
            "0022",
            "11",
            clean(reference, 50),
            env.at.strftime("%Y%m%d"),
            env.at.strftime("%H%M"),
        ),
        seg("HL", "1", "", "20", "1"),
        nm1("PR", "2", clean(payer_name, 60), "", "PI", clean(payer_code, 80)),
    ]
    payer_error = next((a.get("payer_error") for _, a in answers if a.get("payer_error")), None)
    if payer_error:
        body.append(seg("AAA", "Y", "", payer_error, "R"))
        return envelope(env, [("271", body)])
    first = answers[0][0]
    body += _information_receiver(first)
    hl = 2
    for inq, a in answers:
        hl += 1
        body += _subscriber(hl, inq, trace_type="2", originator=env.receiver_id)
        if a.get("error"):
            body.append(seg("AAA", "N", "", a["error"], "C"))
            continue
        if inq.date_of_birth:
            body.append(seg("DMG", "D8", inq.date_of_birth.strftime("%Y%m%d")))
        begin, end = a.get("plan_begin"), a.get("plan_end")
        if isinstance(begin, date) and isinstance(end, date):
            body.append(seg("DTP", "346", "RD8", f"{begin:%Y%m%d}-{end:%Y%m%d}"))
        if not a.get("active"):
            body.append(seg("EB", "6", "IND", "30", "", clean(str(a.get("plan_name", "")), 50)))
            continue
        body.append(seg("EB", "1", "IND", "30^35", "", clean(str(a.get("plan_name", "")), 50)))
        if a.get("copay") is not None:
            body.append(seg("EB", "B", "IND", "35", "", "", "27", a["copay"], "", "", "", "", "Y"))
        if a.get("deductible") is not None:
            body.append(
                seg("EB", "C", "IND", "35", "", "", "23", a["deductible"], "", "", "", "", "Y")
            )
            body.append(
                seg(
                    "EB",
                    "C",
                    "FAM",
                    "35",
                    "",
                    "",
                    "23",
                    Decimal(str(a["deductible"])) * 3,
                    "",
                    "",
                    "",
                    "",
                    "Y",
                )
            )
        if a.get("deductible_remaining") is not None:
            body.append(
                seg(
                    "EB",
                    "C",
                    "IND",
                    "35",
                    "",
                    "",
                    "29",
                    a["deductible_remaining"],
                    "",
                    "",
                    "",
                    "",
                    "Y",
                )
            )
        if a.get("coinsurance") is not None:
            body.append(
                seg("EB", "A", "IND", "35", "", "", "", "", a["coinsurance"], "", "", "", "Y")
            )
            # Out of network the patient pays more: a second EB loop payers commonly send.
            body.append(
                seg("EB", "A", "IND", "35", "", "", "", "", Decimal("0.5"), "", "", "", "N")
            )
    return envelope(env, [("271", body)])
