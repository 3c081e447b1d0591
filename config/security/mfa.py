"""Who must sign in with a second factor, and the gate that holds them until they do.

A password alone opens nothing for the roles in MFA_ROLES: after it, the session reaches
only the MFA pages (enrol an authenticator, or enter its code) and sign-out. Agents use
MFA when MFA_FOR_AGENTS is on, or when they enrolled a device themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import device_classes

from config.compiled import Compiled, CompiledPer, stand_in_id
from config.roles import ADMIN, AGENT, BILLER, COMPLIANCE, OPS_MANAGER, user_roles

from .oidc import signed_in_with_oidc

MFA_ROLES = frozenset({ADMIN, OPS_MANAGER, BILLER, COMPLIANCE})
ERR_MFA_REQUIRED = "Two-factor sign-in required: finish it in the browser, or use a Bearer token."
# Reachable between the password and the second factor.
OPEN_PATHS = ("/accounts/mfa/", "/accounts/logout/", "/static/", "/healthz")


def has_device(user: Any) -> bool:
    """Whether the user has a confirmed device of any installed kind (what
    ``devices_for_user(user, confirmed=True)`` lists), one compiled read per kind: agents
    are asked on every request."""
    if user.is_anonymous:
        return False
    return any(_confirmed(model).rows(user_id=user.pk) for model in device_classes())


_confirmed: CompiledPer[Any, tuple[int]] = CompiledPer(
    lambda model: Compiled(
        lambda user_id: model.objects.filter(user_id=user_id, confirmed=True).values_list("pk")[:1],
        user_id=stand_in_id(),
    )
)


def mfa_required(user: Any) -> bool:
    """True for staff, superusers and the MFA roles; for agents when the setting or an
    enrolled device says so."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    roles = user_roles(user)
    if roles & MFA_ROLES or (settings.MFA_FOR_AGENTS and AGENT in roles):
        return True
    return has_device(user)


class MfaRequiredMiddleware:
    """Holds a password-only session of someone who needs MFA at the MFA pages.

    Needs django_otp's OTPMiddleware above it (it sets ``user.is_verified``). Bearer-token
    requests carry no session user here and pass; tokens are issued by an administrator.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user: Any = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and not (settings.OIDC_IDP_ENFORCES_MFA and signed_in_with_oidc(request))
            and not request.path.startswith(OPEN_PATHS)
            and mfa_required(user)
        ):
            if request.path.startswith(("/api/", "/fhir/")):
                return JsonResponse({"detail": ERR_MFA_REQUIRED}, status=403)
            target = reverse("mfa-verify")
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
