"""271 and 835 files in the styles real payers send them, and the broken ones."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from integrations.x12 import core
from integrations.x12.core import Envelope, X12Error, envelope
from integrations.x12.eligibility import parse_271
from integrations.x12.remittance import ERR_CLP_TOTAL, ERR_NO_PAYER, parse_835

AT = datetime(2026, 3, 9, 8, 30, tzinfo=UTC)


def wrap(code: str, body: str, *, sender="PAYER1", control=7, delimiters="*:~") -> str:
    env = Envelope(sender, "CAREHUB", control, control, "HB", "005010X279A1", AT)
    segments = [s.strip() for s in body.strip().split("~") if s.strip()]
    raw = envelope(env, [(code, segments)])
    element, component, terminator = delimiters
    if delimiters != "*:~":
        raw = raw.replace("*", element).replace("~", terminator)
        raw = raw[:104] + component + raw[105:]
    return raw


# --- 271: a commercial dental payer, dates as a 346 range, several EB loops -----------
DELTA_STYLE = """
BHT*0022*11*ELIG12*20260309*0830~
HL*1**20*1~NM1*PR*2*DELTA DENTAL*****PI*SBXDD1~
HL*2*1*21*1~NM1*1P*2*FRONT RANGE DENTAL*****XX*1234567893~
HL*3*2*22*0~TRN*2*EC41*9PAYER0000~NM1*IL*1*DOE*JAMIE****MI*DD100~DMG*D8*19850412*F~
DTP*346*RD8*20260101-20261231~
EB*1*IND*30^35**DENTAL PPO~
EB*B*IND*35***27*25*****Y~
EB*C*FAM*35***23*150*****Y~
EB*C*IND*35***23*50*****Y~
EB*C*IND*35***29*12.5*****Y~
EB*A*IND*35*****0.5****N~
EB*A*IND*35*****0.2****Y~
MSG*DEDUCTIBLE APPLIES TO BASIC SERVICES~
"""

# --- 271: a Medicaid style: 356/357 dates, percent as 20, coverage under a dependent ---
MEDICAID_STYLE = """
BHT*0022*11**20260309*0830~
HL*1**20*1~NM1*PR*2*TEXAS MEDICAID*****PI*SBXTXM~
HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~
HL*3*2*22*1~NM1*IL*1*DOE*PAT****MI*TX9~
HL*4*3*23*0~TRN*2*EC42*9PAYER0000~NM1*03*1*DOE*KID~DMG*D8*20150412*M~
DTP*356*D8*20250901~DTP*357*D8*20260831~
EB*1*IND*35**MEDICAID DENTAL~
EB*A*IND*35*****20~
LS*2120~NM1*P3*1*PRIMARY*DENTIST~LE*2120~
"""

# --- 271: inactive coverage ------------------------------------------------------------
INACTIVE = """
BHT*0022*11**20260309*0830~
HL*1**20*1~NM1*PR*2*AETNA*****PI*SBXAE1~
HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~
HL*3*2*22*0~TRN*2*EC43*9PAYER0000~NM1*IL*1*ROE*SAM****MI*AE1~
DTP*346*RD8*20250101-20251231~
EB*6*IND*30~
"""

# --- 271: AAA at the subscriber (not found) and at the payer (cannot answer) ---------
SUBSCRIBER_AAA = """
BHT*0022*11**20260309*0830~
HL*1**20*1~NM1*PR*2*CIGNA*****PI*SBXCG1~
HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~
HL*3*2*22*0~TRN*2*EC44*9PAYER0000~NM1*IL*1*NOBODY*ANN****MI*ZZZ~AAA*Y**75*C~
HL*4*2*22*0~TRN*2*EC45*9PAYER0000~NM1*IL*1*DOE*JO****MI*CG2~AAA*N**72*C~
"""

PAYER_AAA = """
BHT*0022*11*ELIG99*20260309*0830~
HL*1**20*1~NM1*PR*2*GUARDIAN*****PI*SBXGD1~AAA*Y**42*R~
"""


def test_a_commercial_271_with_several_eb_loops():
    (s,), shared, reference = parse_271(wrap("271", DELTA_STYLE))
    assert shared == [] and reference == "ELIG12"
    assert s.trace == "EC41" and s.member_id == "DD100" and s.payer_code == "SBXDD1"
    assert s.active is True and s.plan_name == "DENTAL PPO"
    assert (s.plan_begin, s.plan_end) == (date(2026, 1, 1), date(2026, 12, 31))
    assert s.copay == Decimal("25")
    # Remaining (29) for the individual wins over the family and calendar-year totals.
    assert s.deductible_remaining == Decimal("12.5")
    # In-network coinsurance (EB12=Y) wins over out-of-network; 0.2 means 20 %.
    assert s.coinsurance_percent == Decimal("20.00")
    assert len(s.benefits) == 7


def test_a_medicaid_271_answers_for_the_dependent():
    (s,), _, _ = parse_271(wrap("271", MEDICAID_STYLE))
    assert s.trace == "EC42" and s.active is True
    assert (s.plan_begin, s.plan_end) == (date(2025, 9, 1), date(2026, 8, 31))
    assert s.coinsurance_percent == Decimal("20.00")
    assert s.copay is None and s.deductible_remaining is None


def test_an_inactive_271():
    (s,), _, _ = parse_271(wrap("271", INACTIVE))
    assert s.active is False and s.plan_end == date(2025, 12, 31)


def test_aaa_rejections_at_the_subscriber_level():
    first, second = parse_271(wrap("271", SUBSCRIBER_AAA))[0]
    assert first.active is None
    assert [(e.loop, e.code, e.message) for e in first.errors] == [
        ("2100C", "75", "Subscriber / insured not found")
    ]
    assert second.errors[0].code == "72" and second.trace == "EC45"


def test_an_aaa_rejection_at_the_payer_level_concerns_the_whole_file():
    summaries, shared, reference = parse_271(wrap("271", PAYER_AAA))
    assert summaries == [] and reference == "ELIG99"
    assert [(e.loop, e.code) for e in shared] == [("2100A", "42")]


def test_other_delimiters_are_read_from_the_isa():
    raw = wrap("271", DELTA_STYLE, delimiters="|>\n")
    (s,), _, _ = parse_271(raw)
    assert s.copay == Decimal("25") and s.trace == "EC41"


# --- 835 ---------------------------------------------------------------------------------
PAID_AND_DENIED = """
BPR*I*160.8*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20260320~
TRN*1*TRACE001*1512345678~
DTM*405*20260320~
N1*PR*DELTA DENTAL~N3*PO BOX 1~N4*DENVER*CO*80201~REF*2U*SBXDD1~PER*BL*EDI*TE*8005550199~
N1*PE*FRONT RANGE DENTAL*XX*1234567893~
LX*1~
CLP*E000000001-1*1*275*160.8*38*12*PCN1*11*1~
NM1*QC*1*DOE*JAMIE****MI*DD100~
SVC*HC:D0150*95*60.8**1~DTM*472*20260310~CAS*CO*45*19~CAS*PR*2*15.2~AMT*B6*76~
SVC*HC:D2391:TH*180*100**1~DTM*472*20260310~CAS*CO*45*57.2~CAS*PR*1*22.8~AMT*B6*122.8~
CLP*E000000002-1*4*140*0**12*PCN2*11*1~
NM1*QC*1*ROE*SAM****MI*DD101~
SVC*HC:D0210*140*0**1~DTM*472*20260310~CAS*CO*50*140~LQ*HE*N115~
"""

REVERSAL = """
BPR*H*0*C*NON************20260401~
TRN*1*TRACE002*1512345678~
N1*PR*DELTA DENTAL*XV*SBXDD1~N3*PO BOX 1~N4*DENVER*CO*80201~PER*BL*EDI*TE*8005550199~
N1*PE*FRONT RANGE DENTAL*XX*1234567893~
LX*1~
CLP*E000000001-1*22*-275*-160.8*-38*12*PCN1*11*1~
CAS*CO*45*-76.2~CAS*PR*2*-38~
NM1*QC*1*DOE*JAMIE****MI*DD100~
CLP*E000000001-1*1*275*160.8*38*12*PCN1B*11*1~
CAS*CO*45*76.2~CAS*PR*2*38~
NM1*QC*1*DOE*JAMIE****MI*DD100~
"""


def test_an_835_with_paid_and_denied_claims():
    (advice,) = parse_835(wrap("835", PAID_AND_DENIED))
    assert advice.payer_code == "SBXDD1" and advice.trace_number == "TRACE001"
    assert advice.total_paid == Decimal("160.8") and advice.payment_date == date(2026, 3, 20)
    paid, denied = advice.claims
    assert paid.status_code == "1" and paid.patient_responsibility == Decimal("38")
    assert [(a.group, a.reason, a.amount) for a in paid.services[1].adjustments] == [
        ("CO", "45", Decimal("57.2")),
        ("PR", "1", Decimal("22.8")),
    ]
    assert paid.services[1].modifiers == ("TH",)
    assert denied.status_code == "4" and denied.services[0].remarks == ("N115",)


def test_an_835_reversal_and_correction():
    (advice,) = parse_835(wrap("835", REVERSAL))
    reversal, correction = advice.claims
    assert reversal.status_code == "22" and reversal.paid == Decimal("-160.8")
    assert reversal.adjustments[0].amount == Decimal("-76.2")
    assert correction.payer_claim_number == "PCN1B"
    assert advice.payer_code == "SBXDD1"


def test_an_835_that_does_not_balance_is_refused():
    raw = wrap("835", PAID_AND_DENIED.replace("BPR*I*160.8", "BPR*I*999"))
    with pytest.raises(X12Error) as exc:
        parse_835(raw)
    assert str(exc.value) == ERR_CLP_TOTAL.format(
        bpr=Decimal("999"), claims=Decimal("160.8"), plb=Decimal("0")
    )


def test_an_835_without_payer_is_refused():
    body = PAID_AND_DENIED.replace("N1*PR*DELTA DENTAL~", "").replace("REF*2U*SBXDD1~", "")
    body = body.replace("TRN*1*TRACE001*1512345678~", "TRN*1*TRACE001~")
    with pytest.raises(X12Error, match=re.escape(ERR_NO_PAYER)):
        parse_835(wrap("835", body))


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda raw: raw[: len(raw) // 2], core.ERR_NO_SE.split("{")[0]),
        (lambda raw: raw.replace("SE*", "SE*9", 1), "SE01 says"),
        (lambda raw: raw.replace("GE*1*", "GE*2*", 1), "GE01 says 2"),
        (lambda raw: raw.replace("IEA*1*000000007", "IEA*1*000000008"), "IEA02"),
        (lambda raw: raw.split("IEA")[0], core.ERR_NO_IEA),
        (lambda raw: raw[:60], core.ERR_SHORT_ISA),
        (lambda raw: "", core.ERR_EMPTY),
        (lambda raw: "hello world", core.ERR_NO_ISA),
    ],
)
def test_malformed_files_are_refused_with_the_reason(mangle, error):
    raw = mangle(wrap("835", PAID_AND_DENIED))
    with pytest.raises(X12Error) as exc:
        parse_835(raw)
    assert error in str(exc.value)
    with pytest.raises(X12Error):
        parse_271(mangle(wrap("271", DELTA_STYLE)))


# --- 835: a Medicaid style: payer id in N1*PR XV, MOA remarks, a provider-level PLB ------
MEDICAID_835 = """
BPR*I*95*C*ACH*CTX*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20260320~
TRN*1*MCD7781*1746000000~
N1*PR*TEXAS MEDICAID*XV*SBXTXM~N3*PO BOX 200~N4*AUSTIN*TX*78701~PER*BL*EDI*TE*8005550100~
N1*PE*NORTH TEXAS DENTAL*XX*1234567893~
LX*1~
CLP*E000000003-1*1*150*120**MC*MCD-99*11*1~
NM1*QC*1*DOE*KID****MI*TX9~
MOA***MA01*N130~
SVC*HC:D1120*150*120**1~DTM*472*20260310~CAS*CO*45*30~
PLB*1234567893*20261231*WO:MCD-88*25~
"""


def test_a_medicaid_835_with_a_provider_level_adjustment_balances():
    (advice,) = parse_835(wrap("835", MEDICAID_835))
    assert advice.payer_code == "SBXTXM" and advice.total_paid == Decimal("95")
    (claim,) = advice.claims
    assert claim.paid == Decimal("120") and claim.remarks == ("MA01", "N130")
    assert claim.services[0].adjustments[0].reason == "45"
