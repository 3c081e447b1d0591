"""The FHIR client: poll each FHIR connector for what changed (``_lastUpdated``) and put
every resource in the ledger, where the workers apply it FIFO per patient.

Idempotent twice over: the ledger's (sender, control id) unique index holds one row per
resource version, so an overlapping or repeated poll stores nothing new; and the cursor
only moves past what was stored. An Encounter is stored together with the Conditions and
Procedures that reference it (one "FHIR Encounter" collection), so billing receives a
documented visit in one piece whatever order the server lists them in.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.crypto import blind_index
from integrations.models import Connector, Message, SyncCursor
from integrations.transport_security import plain_endpoint_refusal
from integrations.transports import TransportError, _secret

ERR_FOREIGN_LINK = "The FHIR server linked outside its own base URL; not followed."
POLLED_TYPES = (
    "Patient",
    "Appointment",
    "Encounter",
    "Condition",
    "Procedure",
    "Coverage",
    "AllergyIntolerance",
    "Flag",
    "ServiceRequest",
)
PAGE_SIZE = 100
# The ledger's message type holds 20 characters: longer resource names go by a short one.
SHORT_TYPES = {"AllergyIntolerance": "FHIR Allergy"}
MAX_PAGES = 50


def message_type_of(resource_type: str) -> str:
    return SHORT_TYPES.get(resource_type, f"FHIR {resource_type}")


class FhirSearch(Protocol):
    def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]: ...


class HttpFhirClient:
    def __init__(self, connector: Connector, *, timeout: float = 20.0) -> None:
        self.base = connector.endpoint.rstrip("/")
        if not self.base.startswith(("http://", "https://")):
            raise TransportError("FHIR endpoint must be an http(s) URL", permanent=True)
        # The poll would send the Bearer secret in clear: refused before any request.
        refusal = plain_endpoint_refusal(connector)
        if refusal:
            raise TransportError(refusal, permanent=True)
        self.secret = _secret(connector)
        self.timeout = timeout

    def _get(self, url: str) -> dict[str, Any]:
        # Bundle ``next`` links come from the remote server: following one off this
        # connector's base would hand its bearer secret to another host (or open file://).
        if not url.startswith(self.base + "/"):
            raise TransportError(ERR_FOREIGN_LINK, permanent=True)
        request = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})  # noqa: S310 (under the checked base)
        if self.secret:
            request.add_header("Authorization", f"Bearer {self.secret}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (same)
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            raise TransportError(f"HTTP {exc.code}", permanent=400 <= exc.code < 500) from None
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise TransportError(f"FHIR server unreachable: {exc}", permanent=False) from None

    def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """All matches, following the Bundle's ``next`` links (bounded)."""
        url: str | None = f"{self.base}/{resource_type}?{urllib.parse.urlencode(params)}"
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            bundle = self._get(url)
            found += [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
            url = next(
                (link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"),
                None,
            )
        return found


def _patient_ref(resource: dict[str, Any]) -> str:
    kind = resource.get("resourceType")
    if kind == "Patient":
        return f"Patient/{resource.get('id', '')}"
    if kind == "Appointment":
        for p in resource.get("participant", []):
            ref = p.get("actor", {}).get("reference", "")
            if ref.startswith("Patient/"):
                return str(ref)
        return ""
    if kind == "Coverage":
        return str(resource.get("beneficiary", {}).get("reference", ""))
    if kind == "AllergyIntolerance":
        return str(resource.get("patient", {}).get("reference", ""))
    return str(resource.get("subject", {}).get("reference", ""))


def _store(connector: Connector, resource: dict[str, Any], message_type: str, raw: str) -> bool:
    meta = resource.get("meta", {})
    version = (
        meta.get("versionId")
        or meta.get("lastUpdated")
        or hashlib.sha256(raw.encode()).hexdigest()[:16]
    )
    # The resource id of a Patient is the source's MRN: the ledger keeps keyed HMACs of
    # it (the blind-index key), which dedupe and order as well as the id itself.
    resource_key = blind_index("fhir-resource", f"{resource.get('id', '')}/{version}")
    control = f"{resource['resourceType']}/{resource_key}"[:64]
    sender = f"fhir:{connector.pk}"
    ref = _patient_ref(resource)
    key = blind_index("ordering", f"{sender}|{ref or control}")
    if Message.objects.filter(
        direction=Message.Direction.INBOUND, sender=sender, control_id=control
    ).exists():
        return False  # this version was polled before
    try:
        with transaction.atomic():
            Message.objects.create(
                connector=connector,
                direction=Message.Direction.INBOUND,
                protocol=Message.Protocol.FHIR,
                message_type=message_type[:20],
                sender=sender,
                control_id=control,
                raw=raw,
                sha256=Message.hash_raw(raw),
                status=Message.Status.RECEIVED,
                ordering_key=key,
                received_at=timezone.now(),
            )
    except IntegrityError:
        return False  # a concurrent poll stored it first
    return True


def fhir_poll(connector: Connector, *, client: FhirSearch | None = None) -> dict[str, int]:
    """Poll one connector for every type; returns how many resources each stored anew."""
    client = client or HttpFhirClient(connector)
    stored: dict[str, int] = {}
    for resource_type in POLLED_TYPES:
        cursor, _ = SyncCursor.objects.get_or_create(
            connector=connector, resource_type=resource_type
        )
        params = {"_sort": "_lastUpdated", "_count": str(PAGE_SIZE)}
        if cursor.last_updated:
            params["_lastUpdated"] = f"ge{cursor.last_updated}"  # ge: same-instant changes
        resources = client.search(resource_type, params)
        count = 0
        newest = cursor.last_updated
        with transaction.atomic():
            for resource in resources:
                if resource_type == "Encounter":
                    ref = f"Encounter/{resource.get('id', '')}"
                    parts = [resource]
                    parts += client.search("Condition", {"encounter": ref})
                    parts += client.search("Procedure", {"encounter": ref})
                    raw = json.dumps(
                        {
                            "resourceType": "Bundle",
                            "type": "collection",
                            "entry": [{"resource": p} for p in parts],
                        }
                    )
                    count += _store(connector, resource, "FHIR Encounter", raw)
                else:
                    count += _store(
                        connector, resource, message_type_of(resource_type), json.dumps(resource)
                    )
                updated = resource.get("meta", {}).get("lastUpdated", "")
                newest = max(newest, updated)
            cursor.last_updated = newest
            cursor.polled_at = timezone.now()
            cursor.save(update_fields=["last_updated", "polled_at"])
        stored[resource_type] = count
    return stored
