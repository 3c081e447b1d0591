"""The sandbox location EHR: the FHIR R4 side of the sandbox.

It accepts what the relay sends (conditional ``PUT Appointment`` / ``Patient``, validated
against R4B like a real server, answering 400 with an OperationOutcome when invalid), and
answers the hub's polls: after a visit's time it has a finished Encounter with the visit
type's ICD-10-CM Conditions and CPT/CDT Procedures, and the Patient it is about. State is
its own SandboxAppointment book (external ids "E<hub id>").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from integrations.fhir.resources import APPOINTMENT_SYSTEM, NPI_SYSTEM, PATIENT_SYSTEM, instant
from integrations.models import Connector, SandboxAppointment
from integrations.transports import TransportError

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CDT = "http://www.ada.org/cdt"


class SandboxEHR:
    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    # -- writes from the hub's relay ----------------------------------------------------
    def receive_fhir(self, resource: dict[str, Any]) -> dict[str, Any]:
        from fhir.resources.R4B import get_fhir_model_class

        try:
            get_fhir_model_class(resource.get("resourceType", "")).model_validate(resource)
        except (KeyError, ValueError) as exc:
            raise TransportError(f"HTTP 400: {str(exc)[:200]}", permanent=True) from None
        if resource["resourceType"] == "Appointment":
            return self._appointment(resource)
        return {**resource, "id": "accepted"}

    def _appointment(self, resource: dict[str, Any]) -> dict[str, Any]:
        hub_id = next(
            (
                int(i["value"])
                for i in resource.get("identifier", [])
                if i.get("system") == APPOINTMENT_SYSTEM
            ),
            None,
        )
        if hub_id is None:
            raise TransportError("HTTP 400: Appointment.identifier missing", permanent=True)
        patient_id, npi = None, ""
        for participant in resource.get("participant", []):
            ident = participant.get("actor", {}).get("identifier", {})
            if ident.get("system") == PATIENT_SYSTEM:
                patient_id = int(ident["value"])
            elif ident.get("system") == NPI_SYSTEM:
                npi = str(ident["value"])
        code = next(
            (
                c.get("code", "")
                for st in resource.get("serviceType", [])
                for c in st.get("coding", [])
            ),
            "",
        )
        status = {
            "cancelled": SandboxAppointment.Status.CANCELLED,
            "noshow": SandboxAppointment.Status.NO_SHOW,
        }.get(resource.get("status", ""), SandboxAppointment.Status.BOOKED)
        row, _ = SandboxAppointment.objects.update_or_create(
            connector=self.connector,
            external_id=f"E{hub_id}",
            defaults={
                "hub_appointment_id": hub_id,
                "hub_patient_id": patient_id,
                "patient_mrn": f"E{patient_id}",
                "provider_npi": npi,
                "type_code": code,
                "start": datetime.fromisoformat(resource["start"].replace("Z", "+00:00")),
                "end": datetime.fromisoformat(resource["end"].replace("Z", "+00:00")),
                "status": status,
            },
        )
        return {**resource, "id": row.external_id}

    # -- its clinicians ------------------------------------------------------------------
    def document_due(self, *, now: datetime) -> int:
        """Visits whose time has passed are charted (the Encounter becomes finished)."""
        due = SandboxAppointment.objects.filter(
            connector=self.connector, status=SandboxAppointment.Status.BOOKED, end__lte=now
        )
        count = 0
        for visit in due:
            visit.status = SandboxAppointment.Status.DOCUMENTED
            visit.save(update_fields=["status", "updated_at"])
            count += 1
        return count

    # -- reads: the FHIR search API the hub polls ------------------------------------------
    def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        documented = SandboxAppointment.objects.filter(
            connector=self.connector, status=SandboxAppointment.Status.DOCUMENTED
        ).order_by("updated_at", "id")
        since = params.get("_lastUpdated", "").removeprefix("ge")
        if since:
            documented = documented.filter(
                updated_at__gte=datetime.fromisoformat(since.replace("Z", "+00:00"))
            )
        encounter = params.get("encounter", "")
        if encounter:
            visit = documented.filter(pk=_visit_pk(encounter)).first()
            if visit is None:
                return []
            return (
                self._conditions(visit)
                if resource_type == "Condition"
                else (self._procedures(visit) if resource_type == "Procedure" else [])
            )
        if resource_type == "Encounter":
            return [self._encounter(v) for v in documented[:500]]
        if resource_type == "Patient":
            seen: dict[str, dict[str, Any]] = {}
            for visit in documented[:500]:
                if visit.hub_patient_id:
                    seen[visit.patient_mrn] = {
                        "resourceType": "Patient",
                        "id": visit.patient_mrn,
                        "meta": {"versionId": "1", "lastUpdated": instant(visit.updated_at)},
                        "identifier": [
                            {"system": PATIENT_SYSTEM, "value": str(visit.hub_patient_id)}
                        ],
                    }
            return list(seen.values())
        return []

    def _codes(self, visit: SandboxAppointment) -> tuple[list[str], list[str]]:
        from scheduling.models import AppointmentType

        atype = AppointmentType.objects.filter(code=visit.type_code).first()
        return (
            (atype.typical_diagnosis_codes if atype else []) or ["Z01.20"],
            (atype.typical_procedure_codes if atype else []) or ["D0120"],
        )

    def _encounter(self, visit: SandboxAppointment) -> dict[str, Any]:
        return {
            "resourceType": "Encounter",
            "id": f"enc-{visit.pk}",
            "meta": {"versionId": "1", "lastUpdated": instant(visit.updated_at)},
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{visit.patient_mrn}"},
            "participant": [
                {"individual": {"identifier": {"system": NPI_SYSTEM, "value": visit.provider_npi}}}
            ],
            "appointment": [
                {
                    "identifier": {
                        "system": APPOINTMENT_SYSTEM,
                        "value": str(visit.hub_appointment_id),
                    }
                }
            ],
            "period": {
                "start": instant(visit.start),
                "end": instant(visit.end + timedelta(minutes=15)),
            },
        }

    def _conditions(self, visit: SandboxAppointment) -> list[dict[str, Any]]:
        diagnoses, _ = self._codes(visit)
        return [
            {
                "resourceType": "Condition",
                "id": f"cond-{visit.pk}-{i}",
                "subject": {"reference": f"Patient/{visit.patient_mrn}"},
                "encounter": {"reference": f"Encounter/enc-{visit.pk}"},
                "code": {"coding": [{"system": ICD10, "code": code}]},
            }
            for i, code in enumerate(diagnoses, start=1)
        ]

    def _procedures(self, visit: SandboxAppointment) -> list[dict[str, Any]]:
        _, procedures = self._codes(visit)
        return [
            {
                "resourceType": "Procedure",
                "id": f"proc-{visit.pk}-{i}",
                "status": "completed",
                "subject": {"reference": f"Patient/{visit.patient_mrn}"},
                "encounter": {"reference": f"Encounter/enc-{visit.pk}"},
                "code": {"coding": [{"system": CDT, "code": code}]},
            }
            for i, code in enumerate(procedures, start=1)
        ]


def _visit_pk(reference: str) -> int:
    tail = reference.rsplit("enc-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class SandboxFhirClient:
    """The poller's client for a sandbox EHR: the same search() as HttpFhirClient."""

    def __init__(self, connector: Connector) -> None:
        self.ehr = SandboxEHR(connector)

    def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return self.ehr.search(resource_type, params)


def sandbox_ehr_tick(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return sum(
        SandboxEHR(c).document_due(now=now)
        for c in Connector.objects.filter(
            kind=Connector.Kind.SANDBOX, role=Connector.Role.LOCATION_EHR, enabled=True
        )
    )
