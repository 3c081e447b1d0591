"""Template context every page needs from the security layer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .mfa import has_device


def mfa(request: HttpRequest) -> dict[str, Any]:
    """Whether the signed-in user has an authenticator: the header offers set-up if not.
    Lazy, so pages that never render the header pay no query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"mfa_enrolled": True}
    return {"mfa_enrolled": lambda: has_device(user)}
