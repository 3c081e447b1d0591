"""How a wire message reaches a connector. One base class, one error that says whether
retrying can help (after healthchecks' transports): the relay dead-letters a permanent
error at once and backs off on a transient one.
"""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .hl7v2.ack import ack_code
from .mllp import END_BLOCK, START_BLOCK, decode, frame, unframe
from .transport_security import plain_endpoint_refusal

if TYPE_CHECKING:
    from .models import Connector

DEFAULT_TIMEOUT = 10.0
Resource = dict[str, Any] | None


class TransportError(Exception):
    """A delivery that failed. ``permanent``: the same message can never succeed (AE, a
    4xx, a bad endpoint, a message that fails validation), so it is dead-lettered at once;
    otherwise retrying later can help and the caller backs off. ``response`` is what the
    far side answered, if anything (an ACK, an HTTP body), kept in the ledger."""

    def __init__(self, message: str, *, permanent: bool, response: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.response = response


@dataclass(frozen=True)
class Delivered:
    ack_code: str
    response: str


class Transport:
    def __init__(self, connector: Connector, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.connector = connector
        self.timeout = timeout

    def send(
        self, payload: str, *, control_id: str, resource: dict[str, Any] | None = None
    ) -> Delivered:
        raise NotImplementedError


def _host_port(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise TransportError(f"endpoint {endpoint!r} is not host:port", permanent=True)
    return host, int(port)


class MLLPTransport(Transport):
    """Send one message over MLLP and wait for its ACK (original acknowledgment mode).

    AA/CA: delivered. AE/CE: the receiver says the message is wrong, so resending the
    same message cannot help (permanent). AR/CR, a timeout or a refused connection:
    the receiver could not take it now (transient). An ACK for another control id is
    treated as no ACK at all.
    """

    def send(
        self, payload: str, *, control_id: str, resource: dict[str, Any] | None = None
    ) -> Delivered:
        endpoint = self.connector.endpoint
        refusal = plain_endpoint_refusal(self.connector)
        if refusal:
            raise TransportError(refusal, permanent=True)
        # "mllps://host:port": MLLP inside TLS, the server checked against the system CAs
        # or INTEGRATIONS_MLLP_CAFILE (a private CA is common between a hub and its sites).
        use_tls = endpoint.startswith("mllps://")
        host, port = _host_port(endpoint.removeprefix("mllps://").removeprefix("mllp://"))
        try:
            with socket.create_connection((host, port), timeout=self.timeout) as raw_sock:
                sock: socket.socket = raw_sock
                if use_tls:
                    from django.conf import settings

                    cafile = getattr(settings, "INTEGRATIONS_MLLP_CAFILE", "") or None
                    context = ssl.create_default_context(cafile=cafile)
                    context.minimum_version = ssl.TLSVersion.TLSv1_2
                    sock = context.wrap_socket(raw_sock, server_hostname=host)
                sock.settimeout(self.timeout)
                sock.sendall(frame(payload))
                data = b""
                while END_BLOCK not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise TransportError("connection closed before the ACK", permanent=False)
                    data += chunk
        except TimeoutError:
            raise TransportError("no ACK within the timeout", permanent=False) from None
        except ssl.SSLCertVerificationError as exc:
            reason = f"TLS certificate not trusted: {exc.verify_message}"
            raise TransportError(reason, permanent=False) from None
        except OSError as exc:
            raise TransportError(
                f"connection failed: {exc.strerror or exc}", permanent=False
            ) from None
        ack = decode(unframe(data[: data.index(END_BLOCK) + len(END_BLOCK)])).text
        if START_BLOCK in data[1:]:
            ack = ack.replace(START_BLOCK.decode(), "")
        code = ack_code(ack)
        acked_id = _msa_control_id(ack)
        if acked_id != control_id:
            raise TransportError("ACK is for another message", permanent=False, response=ack)
        if code in {"AA", "CA"}:
            return Delivered(ack_code=code, response=ack)
        if code in {"AE", "CE"}:
            raise TransportError(
                f"receiver rejected the message ({code})", permanent=True, response=ack
            )
        raise TransportError(
            f"receiver could not accept now ({code or 'no MSA'})", permanent=False, response=ack
        )


def _msa_control_id(ack: str) -> str:
    for segment in ack.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            parts = segment.split(segment[3])
            return parts[2].strip() if len(parts) > 2 else ""
    return ""


class FhirTransport(Transport):
    """FHIR R4 REST: conditional update on our business identifier (idempotent upsert).

    ``PUT [base]/Appointment?identifier=system|value`` creates the resource when no match
    exists and updates it otherwise (FHIR R4 http.html#cond-update), so an at-least-once
    relay never creates a second copy. 4xx except 408/429 is permanent; 5xx, 408, 429
    and network errors are transient.
    """

    def send(
        self, payload: str, *, control_id: str, resource: dict[str, Any] | None = None
    ) -> Delivered:
        assert resource is not None
        identifier = resource["identifier"][0]
        query = urllib.parse.urlencode(
            {"identifier": f"{identifier['system']}|{identifier['value']}"}
        )
        url = f"{self.connector.endpoint.rstrip('/')}/{resource['resourceType']}?{query}"
        if not url.startswith(("http://", "https://")):
            raise TransportError("FHIR endpoint must be an http(s) URL", permanent=True)
        refusal = plain_endpoint_refusal(self.connector)
        if refusal:
            raise TransportError(refusal, permanent=True)
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url,
            data=payload.encode(),
            method="PUT",
            headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
        )
        secret = _secret(self.connector)
        if secret:
            request.add_header("Authorization", f"Bearer {secret}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read().decode("utf-8", "replace")
                return Delivered(ack_code=str(response.status), response=body[:4000])
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")[:4000]
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise TransportError(f"HTTP {exc.code}", permanent=permanent, response=body) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TransportError(f"connection failed: {exc}", permanent=False) from None


def _secret(connector: Connector) -> str:
    import os

    return os.environ.get(connector.credentials_ref, "") if connector.credentials_ref else ""


__all__ = ["Delivered", "FhirTransport", "MLLPTransport", "Transport", "TransportError"]
