"""What an EHR tells billing when it documents a visit: the input of code-to-claim.

Plain dataclasses, no wire format: the HL7 DFT^P03 and FHIR Encounter/Condition/Procedure
adapters in ``integrations/`` and the sandbox location EHR map their messages onto these
and call ``billing.services.encounter_document(doc=...)``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class ProcedureLine:
    """One charge line as the EHR coded it (becomes one SV1 in the 837P)."""

    code: str  # CPT / HCPCS / CDT, e.g. "D0150" or "99213"
    units: int = 1
    modifiers: tuple[str, ...] = ()
    # 1-based pointers into EncounterDocumentation.diagnoses (SV107); at least one.
    diagnosis_pointers: tuple[int, ...] = (1,)
    # None means the encounter's date of service.
    service_date: date | None = None
    # Alternative to pointers, for sources that link lines to codes (HL7 FT1-19, a FHIR
    # ChargeItem's reasons): when given, they win and become pointers; a code not in
    # ``diagnoses`` is appended to them.
    diagnosis_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EncounterDocumentation:
    """A documented visit.

    Identify the encounter by ``appointment_id`` (the hub's appointment id, e.g. from
    SCH-2 / Appointment.identifier) and/or ``encounter_number`` (the encounter id the hub
    generated at scheduling, e.g. PV1-19 / Encounter.identifier). A visit the hub never
    scheduled (a walk-in) may instead name ``patient_id``, ``provider_npi``,
    ``location_id`` and ``date_of_service``; the encounter is then opened on the spot
    under ``encounter_number`` (or a generated one).
    """

    source_system: str  # who documented it, e.g. the connector's name or "DEN-EHR"
    documented_at: datetime  # aware; the EHR note's signature timestamp
    diagnoses: tuple[str, ...]  # ICD-10-CM, in order (pointer 1 = first); dots allowed
    procedures: tuple[ProcedureLine, ...]
    appointment_id: int | None = None
    encounter_number: str = ""
    documentation_ref: str = ""  # the EHR's note / document id backing the codes
    # True only when the location's EHR documented the visit and gave the note's own time
    # (DFT EVN-2, FHIR Encounter.period.end): what high-dollar codes need. A PMS's charge
    # posting, or a time made up on arrival, is not clinical documentation.
    ehr_signed: bool = False
    # Only for visits without a hub appointment or encounter:
    patient_id: int | None = None
    provider_npi: str = ""
    location_id: int | None = None
    date_of_service: date | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def fingerprint(self) -> str:
        """Hash of everything that affects the claim: the same documentation twice is a no-op."""
        body = {
            "dx": [normalize_icd10(c) for c in self.diagnoses],
            "lines": [
                [
                    line.code.strip().upper(),
                    line.units,
                    [m.strip().upper() for m in line.modifiers],
                    list(line.diagnosis_pointers),
                    line.service_date.isoformat() if line.service_date else None,
                    [normalize_icd10(c) for c in line.diagnosis_codes],
                ]
                for line in self.procedures
            ],
            "at": self.documented_at.isoformat(),
            "ref": self.documentation_ref,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def resolve_pointers(
    doc: EncounterDocumentation,
) -> tuple[list[str], list[tuple[int, ...]]]:
    """Diagnoses (normalized, in order) and each line's pointers, codes turned into pointers."""
    diagnoses = [normalize_icd10(c) for c in doc.diagnoses]
    pointers = []
    for line in doc.procedures:
        if not line.diagnosis_codes:
            pointers.append(tuple(line.diagnosis_pointers))
            continue
        mine = []
        for code in (normalize_icd10(c) for c in line.diagnosis_codes):
            if code not in diagnoses:
                diagnoses.append(code)
            mine.append(diagnoses.index(code) + 1)
        pointers.append(tuple(dict.fromkeys(mine)))
    return diagnoses, pointers


def normalize_icd10(code: str) -> str:
    """ICD-10-CM as the 837P carries it: upper case, no dot ("K02.52" -> "K0252")."""
    return code.strip().upper().replace(".", "")
