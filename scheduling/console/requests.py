"""The request the console views see, and the decorator that lets an agent in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse

from config.htmx import HtmxHttpRequest
from config.permissions import USE_CONSOLE


class AgentRequest(HtmxHttpRequest):
    """What the views see after the middleware and ``console_view``: a logged-in user."""

    user: User


def read_once(request: HttpRequest) -> dict[Any, Any]:
    """Rows this request has read already (the open call, the open patient), keyed by
    model and id, so a view and the panels it draws read each once. It lives and dies
    with the request: the next request reads afresh."""
    memo = getattr(request, "_console_reads", None)
    if memo is None:
        memo = {}
        request._console_reads = memo  # type: ignore[attr-defined]
    return memo


# read_once's key for the ids of patients this request has found in the agent's scope.
IN_SCOPE = "patients in scope"


View = Callable[..., HttpResponse]


def console_view(view: View) -> View:
    """Login (middleware) plus the console permission: anyone else gets a 403."""
    return permission_required(USE_CONSOLE, raise_exception=True)(view)
