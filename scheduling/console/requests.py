"""The request the console views see, and the decorator that lets an agent in."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.http import HttpResponse

from config.htmx import HtmxHttpRequest
from config.permissions import USE_CONSOLE


class AgentRequest(HtmxHttpRequest):
    """What the views see after the middleware and ``console_view``: a logged-in user."""

    user: User


View = Callable[..., HttpResponse]


def console_view(view: View) -> View:
    """Login (middleware) plus the console permission: anyone else gets a 403."""
    return permission_required(USE_CONSOLE, raise_exception=True)(view)
