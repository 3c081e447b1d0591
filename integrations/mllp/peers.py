"""Which peer may send as which connector: MSH-3/MSH-4 alone prove nothing.

Anyone who can reach the port can write any sending application into MSH. So each
inbound connector may be bound to the peer that really sends for it: a source-address
allow-list, the SHA-256 fingerprint of its TLS client certificate, the common name in
that certificate, or any of these together (each one set must match). A frame whose
peer does not match the connector it claims gets AE and is kept, never applied.

With ``INTEGRATIONS_REQUIRE_SECURE_TRANSPORT`` (on under production settings) a connector
must also be bound, and plain MLLP is refused unless the connector explicitly allows it
(``allow_plain_transport``), which the integration-health page then warns about.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integrations.transport_security import secure_transport_required

if TYPE_CHECKING:
    from integrations.models import Connector

ERR_PEER_ADDRESS = "sender not allowed from this address for its connector"
ERR_PEER_NO_CERTIFICATE = "sender must present its TLS client certificate for its connector"
ERR_PEER_CERTIFICATE = "client certificate does not belong to the sending connector"
ERR_PEER_UNBOUND = "connector has no peer binding (certificate or address); refused"
ERR_PLAIN_REFUSED = "plain MLLP is refused for this connector; connect with TLS"


@dataclass(frozen=True)
class Peer:
    """The far end of one MLLP connection, as the socket (not the message) tells it."""

    address: str
    tls: bool = False
    certificate_sha256: str = ""  # hex, lower case, no colons; "" without a certificate
    certificate_subject: str = ""  # the certificate's common name

    @classmethod
    def of_connection(cls, peername: object, ssl_object: ssl.SSLObject | None) -> Peer:
        address = peername[0] if isinstance(peername, tuple) and peername else ""
        if ssl_object is None:
            return cls(address=str(address))
        der = ssl_object.getpeercert(binary_form=True)
        subject = ""
        decoded = ssl_object.getpeercert() or {}
        for rdn in decoded.get("subject", ()):
            for pair in rdn:
                if pair[0] == "commonName":
                    subject = str(pair[1])
        return cls(
            address=str(address),
            tls=True,
            certificate_sha256=hashlib.sha256(der).hexdigest() if der else "",
            certificate_subject=subject,
        )


def normalize_fingerprint(value: str) -> str:
    return re.sub(r"[^0-9a-f]", "", value.lower())


def address_allowed(address: str, allowed: str) -> bool:
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    for entry in re.split(r"[\s,]+", allowed.strip()):
        if not entry:
            continue
        try:
            if peer in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # the admin form refuses bad entries; an old one matches nothing
    return False


def is_bound(connector: Connector) -> bool:
    return bool(
        connector.peer_addresses.strip()
        or connector.peer_certificate_sha256.strip()
        or connector.peer_certificate_subject.strip()
    )


def peer_refusal(connector: Connector, peer: Peer | None) -> str:
    """Why this peer may not send as this connector ("" when it may).

    ``peer`` is None for messages that did not come over a socket (``hl7_import`` of a
    file an operator was given): the operator is the authentication there.
    """
    if peer is None:
        return ""
    if connector.peer_addresses.strip() and not address_allowed(
        peer.address, connector.peer_addresses
    ):
        return ERR_PEER_ADDRESS
    wanted_fp = normalize_fingerprint(connector.peer_certificate_sha256)
    wanted_cn = connector.peer_certificate_subject.strip()
    if wanted_fp or wanted_cn:
        if not peer.certificate_sha256:
            return ERR_PEER_NO_CERTIFICATE
        if wanted_fp and wanted_fp != peer.certificate_sha256:
            return ERR_PEER_CERTIFICATE
        if wanted_cn and wanted_cn != peer.certificate_subject:
            return ERR_PEER_CERTIFICATE
    if secure_transport_required():
        if not is_bound(connector):
            return ERR_PEER_UNBOUND
        if not peer.tls and not connector.allow_plain_transport:
            return ERR_PLAIN_REFUSED
    return ""
