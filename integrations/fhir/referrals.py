"""FHIR R4 ServiceRequest from a location EHR -> a referral on the agents' worklist.

https://hl7.org/fhir/R4/servicerequest.html: ``code`` names what is requested (matched to
the hub's visit types by code), ``subject`` the patient, ``priority`` the urgency
(request-priority), ``requester`` the referring clinician (display, NPI identifier),
``reasonCode`` why, ``authoredOn`` when. ``status`` revoked, completed or
entered-in-error closes a referral that is still waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone

from integrations.hl7v2.fields import MappingError
from scheduling.models import AppointmentType, Referral
from scheduling.services.referrals import ReferralRecord, referral_receive

from .references import fhir_instant, patient_for
from .resources import NPI_SYSTEM

if TYPE_CHECKING:
    from integrations.models import Connector

ERR_NO_VISIT_TYPE = "ServiceRequest.code names no visit type the hub books"
ERR_INTENT = "ServiceRequest.intent is not a request to be seen (order, plan or proposal)"
CLOSING = {
    "revoked": "revoked by the referring clinician",
    "completed": "completed at the EHR",
    "entered-in-error": "entered in error at the EHR",
}
SEEN_INTENTS = {"order", "original-order", "plan", "proposal", "directive", "filler-order"}


def _visit_type(resource: dict[str, Any]) -> AppointmentType:
    codes = [str(c["code"]) for c in resource.get("code", {}).get("coding", []) if c.get("code")]
    found = AppointmentType.objects.filter(code__in=codes).first() if codes else None
    if found is None:
        raise MappingError(ERR_NO_VISIT_TYPE)
    return found


def handle_service_request(resource: dict[str, Any], connector: Connector) -> str:
    if resource.get("intent") not in SEEN_INTENTS:
        raise MappingError(ERR_INTENT)
    status = str(resource.get("status", ""))
    if status in {"draft", "unknown"}:
        return f"ServiceRequest {status}: not a referral yet"
    patient = patient_for(resource.get("subject", {}), connector)
    requester = resource.get("requester", {})
    ident = requester.get("identifier", {})
    authored = resource.get("authoredOn")
    priority = str(resource.get("priority", "routine"))
    referral = referral_receive(
        record=ReferralRecord(
            connector_id=connector.pk,
            record_id=str(resource.get("id", "")),
            patient_id=patient.pk,
            appointment_type_id=_visit_type(resource).pk,
            priority=priority if priority in Referral.Priority.values else "routine",
            referring_provider=str(requester.get("display", ""))[:120],
            referring_npi=str(ident.get("value", ""))[:10]
            if ident.get("system") == NPI_SYSTEM
            else "",
            reason="; ".join(
                str(r.get("text") or next((c.get("display", "") for c in r.get("coding", [])), ""))
                for r in resource.get("reasonCode", [])
            )[:500],
            received_at=fhir_instant(authored)
            if isinstance(authored, str) and "T" in authored
            else timezone.now(),
            open=status not in CLOSING,
            closed_reason=CLOSING.get(status, ""),
        )
    )
    return f"referral #{referral.pk} {referral.status}"
