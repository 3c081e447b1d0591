"""Nothing travels in clear under production settings unless a connector says so.

``INTEGRATIONS_REQUIRE_SECURE_TRANSPORT`` (on in ``config.settings.production``) refuses
plain MLLP (in and out) and ``http://`` FHIR endpoints, whose Bearer secret and PHI
would cross the network readable by anyone on the path. A connector may be allowed
plain transport explicitly (``allow_plain_transport``: a site on a private line, a
sender that cannot do TLS yet); the integration-health page lists every such exception
so it is never forgotten. The inbound side also checks who the peer is
(``integrations.mllp.peers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from .models import Connector

ERR_PLAIN_FHIR = "http:// FHIR endpoint refused under production settings; use https://"
ERR_PLAIN_MLLP_OUT = "plain MLLP endpoint refused under production settings; use mllps://"
WARN_ALLOWED = "allowed to use plain transport: {what} travels unencrypted"
WARN_REFUSED = "nothing is delivered to or polled from this connector"
WARN_NOT_ENFORCED = (
    "Secure transport is not enforced (INTEGRATIONS_REQUIRE_SECURE_TRANSPORT is off): "
    "plain MLLP and http:// FHIR are accepted from every connector"
)


def secure_transport_required() -> bool:
    return bool(getattr(settings, "INTEGRATIONS_REQUIRE_SECURE_TRANSPORT", False))


def _is_plain_endpoint(connector: Connector) -> str:
    """What is plain about this connector's outbound endpoint ("" when nothing is)."""
    endpoint = connector.endpoint.strip().lower()
    if connector.kind == "fhir_r4" and endpoint.startswith("http://"):
        return "FHIR over http://"
    if connector.kind == "hl7v2_mllp" and endpoint and not endpoint.startswith("mllps://"):
        return "outbound MLLP"
    return ""


def plain_endpoint_refusal(connector: Connector) -> str:
    """Why the hub must not connect to this connector's endpoint ("" when it may)."""
    if not secure_transport_required() or connector.allow_plain_transport:
        return ""
    plain = _is_plain_endpoint(connector)
    if plain == "FHIR over http://":
        return ERR_PLAIN_FHIR
    if plain:
        return ERR_PLAIN_MLLP_OUT
    return ""


@dataclass(frozen=True)
class TransportWarning:
    connector: str
    message: str


def transport_warnings(connectors: list[Connector]) -> list[TransportWarning]:
    """For the integration-health page: every connector allowed to send or receive in
    clear, and a banner when secure transport is not enforced at all."""
    warnings: list[TransportWarning] = []
    if not secure_transport_required():
        warnings.append(TransportWarning("", WARN_NOT_ENFORCED))
    for connector in connectors:
        refusal = plain_endpoint_refusal(connector)
        if refusal and connector.enabled:
            warnings.append(TransportWarning(connector.name, f"{WARN_REFUSED}: {refusal}"))
        if not connector.allow_plain_transport:
            continue
        what = _is_plain_endpoint(connector) or (
            "inbound MLLP" if connector.sending_application else "its traffic"
        )
        warnings.append(TransportWarning(connector.name, WARN_ALLOWED.format(what=what)))
    return warnings
