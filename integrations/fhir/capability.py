"""The CapabilityStatement answered at /fhir/r4/metadata (FHIR R4 capabilitystatement.html)."""

from __future__ import annotations

from typing import Any

# IHE ITI Scheduling 1.0.0's canonical base: its OperationDefinitions are
# {base}/OperationDefinition/appointment-find|hold|book, its server statement
# {base}/CapabilityStatement/IHE.Scheduling.server.
IHE_SCHEDULING = "https://profiles.ihe.net/ITI/Scheduling"

SEARCH_PARAMS: dict[str, list[tuple[str, str]]] = {
    "Patient": [
        ("identifier", "token"),
        ("name", "string"),
        ("family", "string"),
        ("given", "string"),
        ("birthdate", "date"),
    ],
    "Practitioner": [("identifier", "token"), ("name", "string")],
    "Location": [("identifier", "token"), ("name", "string")],
    "Schedule": [("actor", "reference")],
    "Slot": [
        ("schedule", "reference"),
        ("start", "date"),
        ("status", "token"),
        ("service-type", "token"),
    ],
    "Appointment": [
        ("patient", "reference"),
        ("date", "date"),
        ("status", "token"),
        ("location", "reference"),
        ("practitioner", "reference"),
    ],
}


def capability_statement(base: str) -> dict[str, Any]:
    resources = []
    for name, params in SEARCH_PARAMS.items():
        interactions = [{"code": "read"}, {"code": "search-type"}]
        entry: dict[str, Any] = {
            "type": name,
            "interaction": interactions,
            "searchParam": [{"name": n, "type": t} for n, t in params]
            + [{"name": "_id", "type": "token"}, {"name": "_count", "type": "number"}],
        }
        if name == "Appointment":
            interactions.append({"code": "create"})
            entry["operation"] = [
                {
                    "name": op,
                    "definition": f"{IHE_SCHEDULING}/OperationDefinition/appointment-{op}",
                }
                for op in ("find", "hold", "book")
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "publisher": "Care Hub",
        "kind": "instance",
        "instantiates": [f"{IHE_SCHEDULING}/CapabilityStatement/IHE.Scheduling.server"],
        "software": {"name": "Care Hub"},
        "implementation": {"description": "Care Hub FHIR facade", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ],
                            "text": "Bearer token (python manage.py issue_api_token USERNAME)",
                        }
                    ]
                },
                "resource": resources,
            }
        ],
    }
