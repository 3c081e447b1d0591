"""What billing's services take from the clearinghouse side, and what the 837P is built from.

Plain dataclasses, no wire format: ``integrations/x12/`` maps 271, 999, 277CA and 835
files onto these and renders 837Ps from ``ClaimData``. The comments name the X12
element each field comes from or goes to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


# ---------------------------------------------------------------------------
# Eligibility answers (271)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BenefitLine:
    """One EB loop as the payer sent it."""

    info: str  # EB01: 1 active, 6 inactive, B co-payment, C deductible, A co-insurance...
    coverage_level: str  # EB02: IND, FAM...
    service_types: tuple[str, ...]  # EB03 repeats
    plan_description: str  # EB05
    time_period: str  # EB06: 23 calendar year, 29 remaining...
    amount: Decimal | None  # EB07
    percent: Decimal | None  # EB08
    in_network: str  # EB12: Y, N, W (not applicable) or ""


@dataclass(frozen=True)
class EligibilityError:
    loop: str  # 2100A payer, 2100B provider, 2100C subscriber, 2100D dependent, 2110C
    code: str  # AAA03
    message: str
    follow_up: str = ""  # AAA04


@dataclass
class BenefitsSummary:
    trace: str
    member_id: str = ""
    payer_code: str = ""
    active: bool | None = None  # None: the payer did not say (errors only)
    plan_name: str = ""
    plan_begin: date | None = None
    plan_end: date | None = None
    copay: Decimal | None = None
    deductible_remaining: Decimal | None = None
    coinsurance_percent: Decimal | None = None  # 20 means 20 %
    errors: list[EligibilityError] = field(default_factory=list)
    benefits: list[BenefitLine] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Professional claim (837P)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Address:
    line: str
    city: str
    state: str
    zip_code: str


@dataclass(frozen=True)
class BillingProvider:
    name: str
    npi: str
    tax_id: str
    address: Address


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    date_of_birth: date | None
    sex: str  # F, M, U
    address: Address | None = None


@dataclass(frozen=True)
class ClaimLineData:
    procedure_code: str
    modifiers: tuple[str, ...]
    amount: Decimal
    units: int
    pointers: tuple[int, ...]
    service_date: date


@dataclass(frozen=True)
class ClaimData:
    claim_number: str  # CLM01
    total: Decimal  # CLM02 = sum of the SV102s
    place_of_service: str  # CLM05-1, 11 office
    diagnoses: tuple[str, ...]  # ICD-10-CM without dots, principal first
    lines: tuple[ClaimLineData, ...]
    billing_provider: BillingProvider
    rendering_first_name: str
    rendering_last_name: str
    rendering_npi: str
    member_id: str
    group_number: str
    relationship: str  # 18 self, 01 spouse, 19 child, G8 other
    filing_indicator: str  # SBR09: CI commercial, MC Medicaid, MB Medicare B, HM HMO
    subscriber: Person
    patient: Person  # same as subscriber when relationship is 18
    payer_name: str
    payer_code: str
    frequency: str = "1"  # CLM05-3: 1 original, 7 replacement
    original_reference: str = ""  # REF*F8, the payer's claim number a replacement cites


# ---------------------------------------------------------------------------
# Acknowledgements (999, 277CA)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionalAck:
    group_control: str  # AK102: the GS06 acknowledged
    code: str  # AK901: A accepted, E accepted with errors, R rejected, P partially
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimAck:
    claim_number: str  # TRN02 of the 2200D loop
    category: str  # STC01-1: A1/A2 accepted, A3/A6/A7/A8 rejected
    status: str  # STC01-2
    accepted: bool
    payer_claim_number: str = ""


# ---------------------------------------------------------------------------
# Remittance (835)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AdjustmentData:
    group: str  # CO, PR, OA, PI, CR
    reason: str  # CARC
    amount: Decimal


@dataclass(frozen=True)
class ServicePayment:
    procedure_code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units: int
    service_date: date | None
    adjustments: tuple[AdjustmentData, ...]
    remarks: tuple[str, ...]  # RARC from LQ*HE


@dataclass(frozen=True)
class ClaimPayment:
    clp01: str
    status_code: str  # CLP02: 1, 2, 3 processed, 4 denied, 22 reversal
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    payer_claim_number: str
    adjustments: tuple[AdjustmentData, ...]  # claim-level CAS
    services: tuple[ServicePayment, ...]
    remarks: tuple[str, ...] = ()  # MOA/MIA remark codes
    patient_last_name: str = ""
    member_id: str = ""


@dataclass(frozen=True)
class RemittanceAdvice:
    payer_name: str
    payer_code: str  # N1*PR REF*2U or TRN03
    trace_number: str  # TRN02
    total_paid: Decimal  # BPR02
    payment_date: date | None  # BPR16
    payment_method: str  # BPR04: ACH, CHK, NON
    claims: tuple[ClaimPayment, ...]
    payee_npi: str = ""
