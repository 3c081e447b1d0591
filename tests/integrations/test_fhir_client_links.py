"""The FHIR poller follows Bundle paging links only on its own connector's server."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from integrations.fhir.client import ERR_FOREIGN_LINK, HttpFhirClient
from integrations.models import Connector
from integrations.transports import TransportError

pytestmark = pytest.mark.django_db


class _Server:
    def __init__(self, next_link: str | None) -> None:
        self.requests: list[tuple[str, str]] = []
        self.next_link = next_link
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Authorization", "")))
                # Only the first page links on; a second page ends the bundle.
                more = owner.next_link and "page=2" not in self.path
                links = [{"relation": "next", "url": owner.next_link}] if more else []
                body = json.dumps({"resourceType": "Bundle", "link": links, "entry": []})
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}/fhir"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _client(base: str, monkeypatch) -> HttpFhirClient:
    monkeypatch.setenv("TEST_EHR_TOKEN", "s3cret")
    connector = Connector.objects.create(
        name="EHR", kind="fhir_r4", role="location_ehr", endpoint=base,
        credentials_ref="TEST_EHR_TOKEN",
    )  # fmt: skip
    return HttpFhirClient(connector)


@pytest.mark.parametrize("foreign", ["other-host", "file:///etc/passwd"])
def test_a_next_link_off_the_connectors_base_is_refused_and_the_secret_stays_home(
    foreign, monkeypatch
):
    elsewhere = _Server(next_link=None)
    link = f"{elsewhere.base}/Patient?page=2" if foreign == "other-host" else foreign
    home = _Server(next_link=link)
    try:
        with pytest.raises(TransportError) as raised:
            _client(home.base, monkeypatch).search("Patient", {"_lastUpdated": "gt2026-01-01"})
        assert str(raised.value) == ERR_FOREIGN_LINK and raised.value.permanent
        assert len(home.requests) == 1 and home.requests[0][1] == "Bearer s3cret"
        assert elsewhere.requests == []
    finally:
        home.close()
        elsewhere.close()


def test_next_links_on_the_same_server_are_followed(monkeypatch):
    server = _Server(next_link=None)
    server.next_link = f"{server.base}/Patient?page=2"
    try:
        found = _client(server.base, monkeypatch).search("Patient", {"_count": "100"})
        assert found == []
        assert [path for path, _ in server.requests] == [
            "/fhir/Patient?_count=100",
            "/fhir/Patient?page=2",
        ]
    finally:
        server.close()
