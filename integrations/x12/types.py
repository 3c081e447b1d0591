"""The 270 request as the wire side sees it; the answers billing takes are in billing.types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class EligibilityInquiry:
    trace: str  # TRN02, echoed in the 271 so the answer finds its check
    payer_name: str
    payer_code: str
    provider_name: str
    provider_npi: str
    member_id: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    service_date: date
    service_type: str = "35"  # 35 dental care; 30 health benefit plan coverage
