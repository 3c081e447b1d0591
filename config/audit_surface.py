"""Names the surface (the URL's view name) on every audit entry a request writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest, HttpResponse

from config.audit_hash import current_surface

SURFACE_MAX = 64


@contextmanager
def audit_surface(name: str) -> Iterator[None]:
    """Entries written inside are attributed to ``name`` (a CSV export, a worker task)."""
    token = current_surface.set(name[:SURFACE_MAX])
    try:
        yield
    finally:
        current_surface.reset(token)


class AuditSurfaceMiddleware:
    """The surface is the resolved view name ("fhir:patient-search", "admin:..."), known
    only once the URL is resolved, so it is set in ``process_view`` and cleared after."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_surface.set("")
        try:
            return self.get_response(request)
        finally:
            current_surface.reset(token)

    def process_view(self, request: HttpRequest, *_: Any) -> None:
        match = request.resolver_match
        if match is not None:
            current_surface.set((match.view_name or match.url_name or "")[:SURFACE_MAX])
