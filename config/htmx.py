"""One way to answer htmx: the same view renders the page or a named partial of it.

django-htmx's middleware sets ``request.htmx`` (truthy for an htmx request). A response
whose body depends on that header must say so with ``Vary: HX-Request``, or a cache (the
browser's own back/forward cache included) can hand the bare fragment to a full-page
load of the same URL.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request after django-htmx's middleware."""

    htmx: HtmxDetails


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    """Mark a response as depending on whether the request came from htmx."""
    patch_vary_headers(response, ["HX-Request"])
    return response


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or for an htmx request its ``{% partialdef partial %}``."""
    name = f"{template}#{partial}" if partial and request.htmx else template
    return vary_on_htmx(render(request, name, context, status=status))
