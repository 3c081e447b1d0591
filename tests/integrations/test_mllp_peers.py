"""Authenticated MLLP peers: mutual TLS bound per connector, source-address allow-lists,
and production settings that refuse plain transport unless a connector allows it.

A private CA, the listener's certificate and the senders' client certificates are made
here with ``cryptography``; every exchange is a real TLS socket to the real listener.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError

from integrations import inbound
from integrations.fhir.client import HttpFhirClient
from integrations.hl7v2.ack import ack_code
from integrations.mllp.peers import (
    ERR_PEER_ADDRESS,
    ERR_PEER_CERTIFICATE,
    ERR_PEER_UNBOUND,
    ERR_PLAIN_REFUSED,
)
from integrations.mllp.server import tls_context
from integrations.models import Connector, Message
from integrations.transport_security import ERR_PLAIN_FHIR
from integrations.transports import TransportError
from patients.models import PatientIdentifier
from tests import factories as f

from .conftest import RunningListener
from .hl7_samples import adt

pytestmark = pytest.mark.django_db(transaction=True)


class Pki:
    """A private CA and the certificates it signs, written as PEM files."""

    def __init__(self, directory, name: str = "Care Hub test CA") -> None:
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = self._write(
            f"{name}.pem", self.cert.public_bytes(serialization.Encoding.PEM)
        )

    def _write(self, filename: str, data: bytes) -> str:
        path = self.dir / filename.replace(" ", "_")
        path.write_bytes(data)
        return str(path)

    def issue(self, common_name: str, *, server: bool = False) -> tuple[str, str, str]:
        """(certificate file, key file, SHA-256 fingerprint of the DER certificate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        return (
            self._write(f"{common_name}.crt", pem),
            self._write(f"{common_name}.key", key_pem),
            fingerprint,
        )


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.fixture
def mtls_listener(pki):
    cert, key, _ = pki.issue("localhost", server=True)
    running = RunningListener(ssl_context=tls_context(cert, key, pki.ca_file))
    yield running
    running.stop()


def _connector(**kw) -> Connector:
    return Connector.objects.create(
        name="Denver PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=f.location(),
        sending_application="DENPMS",
        sending_facility="DEN",
        identifier_system="DEN-PMS",
        **kw,
    )


def send_tls(listener, message: str, *, ca_file: str, client: tuple[str, str] | None) -> str:
    context = ssl.create_default_context(cafile=ca_file)
    if client:
        context.load_cert_chain(*client)
    with (
        socket.create_connection((listener.host, listener.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        sock.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        data = b""
        while b"\x1c\r" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed without an answer")
            data += chunk
    return data.strip(b"\x0b\x1c\r").decode()


def send_plain(listener, message: str) -> str:
    with socket.create_connection((listener.host, listener.port), timeout=10) as sock:
        sock.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        data = b""
        while b"\x1c\r" not in data:
            data += sock.recv(65536)
    return data.strip(b"\x0b\x1c\r").decode()


def _applied() -> set[str]:
    inbound.inbound_drain_keys(inbound.inbound_due_keys())
    return set(PatientIdentifier.objects.values_list("value", flat=True))


def test_it_applies_a_frame_from_the_certificate_bound_to_the_connector(pki, mtls_listener):
    cert, key, fingerprint = pki.issue("denpms")
    _connector(peer_certificate_sha256=":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)))
    answer = send_tls(mtls_listener, adt("T1", mrn="OK1"), ca_file=pki.ca_file, client=(cert, key))
    assert ack_code(answer) == "AA"
    assert _applied() == {"OK1"}


def test_a_frame_from_another_certificate_of_the_same_ca_gets_ae_and_is_not_applied(
    pki, mtls_listener
):
    """The CA vouches that the peer is one of our partners, not which one: a partner's
    valid certificate must not let it send as another partner's connector."""
    cert, key, fingerprint = pki.issue("denpms")
    other_cert, other_key, _ = pki.issue("aurora-pms")
    _connector(peer_certificate_sha256=fingerprint)
    answer = send_tls(
        mtls_listener, adt("T2", mrn="M77"), ca_file=pki.ca_file, client=(other_cert, other_key)
    )
    assert ack_code(answer) == "AE" and ERR_PEER_CERTIFICATE in answer
    assert "MSA|AE|T2|" in answer
    row = Message.objects.get()
    assert row.status == "rejected", "kept for a person to see, never applied"
    assert "|T2|" in row.raw and row.control_id == "", "it takes no control id of the sender's"
    assert _applied() == set()
    # The real sender's message under that id (even the very same text) is not blocked.
    real = send_tls(mtls_listener, adt("T2", mrn="M77"), ca_file=pki.ca_file, client=(cert, key))
    assert ack_code(real) == "AA"
    assert _applied() == {"M77"}


def test_the_certificate_subject_can_be_the_binding(pki, mtls_listener):
    right = pki.issue("denpms")
    wrong = pki.issue("aurora-pms")
    _connector(peer_certificate_subject="denpms")
    answers = [
        send_tls(mtls_listener, adt(cid, mrn=cid), ca_file=pki.ca_file, client=client[:2])
        for cid, client in (("S1", right), ("S2", wrong))
    ]
    assert [ack_code(a) for a in answers] == ["AA", "AE"]
    assert _applied() == {"S1"}


def test_an_mllp_peer_with_the_wrong_certificate_is_refused(pki, mtls_listener, tmp_path):
    """A certificate from a CA the listener does not trust, or none at all, never gets
    past the TLS handshake (CERT_REQUIRED): nothing is read, nothing is stored."""
    _connector()
    rogue = Pki(tmp_path, name="Rogue CA").issue("denpms")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        send_tls(mtls_listener, adt("R1"), ca_file=pki.ca_file, client=rogue[:2])
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        send_tls(mtls_listener, adt("R2"), ca_file=pki.ca_file, client=None)
    assert not Message.objects.exists()


def test_a_source_address_allow_list_refuses_other_addresses(listener):
    connector = _connector(peer_addresses="10.20.0.0/16, 192.0.2.7")
    refused = send_plain(listener, adt("A1", mrn="A1"))
    connector.peer_addresses = "10.20.0.0/16 127.0.0.0/8"
    connector.save()
    accepted = send_plain(listener, adt("A2", mrn="A2"))
    assert ack_code(refused) == "AE" and ERR_PEER_ADDRESS in refused
    assert ack_code(accepted) == "AA"
    assert _applied() == {"A2"}


def test_production_settings_refuse_plain_and_unbound_mllp_unless_a_connector_allows_it(
    listener, settings, client, admin_user
):
    settings.INTEGRATIONS_REQUIRE_SECURE_TRANSPORT = True
    connector = _connector()
    unbound = send_plain(listener, adt("P1", mrn="P1"))
    connector.peer_addresses = "127.0.0.1"
    connector.save()
    plain = send_plain(listener, adt("P2", mrn="P2"))
    connector.allow_plain_transport = True
    connector.save()
    allowed = send_plain(listener, adt("P3", mrn="P3"))

    assert ack_code(unbound) == "AE" and ERR_PEER_UNBOUND in unbound
    assert ack_code(plain) == "AE" and ERR_PLAIN_REFUSED in plain
    assert ack_code(allowed) == "AA"
    assert _applied() == {"P3"}

    client.force_login(admin_user)
    page = client.get("/integrations/health/").content.decode()
    assert "Transport security" in page
    assert "Denver PMS</strong>: allowed to use plain transport: inbound MLLP" in page


def test_production_settings_refuse_http_fhir_endpoints_unless_allowed(settings, db):
    settings.INTEGRATIONS_REQUIRE_SECURE_TRANSPORT = True
    connector = Connector(
        name="Aurora EHR",
        kind=Connector.Kind.FHIR_R4,
        role=Connector.Role.LOCATION_EHR,
        location=f.location(),
        endpoint="http://ehr.aurora.example/fhir",
    )
    with pytest.raises(ValidationError) as refused:
        connector.full_clean()
    assert ERR_PLAIN_FHIR in str(refused.value)
    connector.save()  # as if it were saved before production settings were turned on
    with pytest.raises(TransportError) as at_poll:
        HttpFhirClient(connector)
    assert at_poll.value.permanent and str(at_poll.value) == ERR_PLAIN_FHIR

    connector.allow_plain_transport = True
    connector.full_clean()
    assert HttpFhirClient(connector).base == "http://ehr.aurora.example/fhir"
