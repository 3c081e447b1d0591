"""FHIR HTTP plumbing: auth, content type, OperationOutcome for every error."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.request import Request

from integrations.auth import BearerTokenAuthentication

FHIR_JSON = "application/fhir+json"

ERR_LOGIN = "Authentication required: send Authorization: Bearer <token>."
ERR_FORBIDDEN = "Your role does not allow this operation."
ERR_NOT_FOUND = "No such resource."
ERR_UNKNOWN_TYPE = "This server does not support that resource type."
ERR_BAD_JSON = "The request body is not valid JSON."
ERR_METHOD = "Method not allowed on this endpoint."


class FhirError(Exception):
    """An error answered as an OperationOutcome (FHIR R4 operationoutcome.html)."""

    def __init__(
        self, status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.headers = headers or {}


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def fhir_response(body: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type=FHIR_JSON
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def authenticate(request: HttpRequest) -> Any:
    """Bearer token first; a logged-in browser session (admins poking around) also works."""
    try:
        result = BearerTokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed as exc:
        raise FhirError(401, "login", str(exc.detail)) from None
    except PermissionDenied as exc:  # the token lacks the scope
        raise FhirError(403, "forbidden", str(exc.detail)) from None
    except Throttled as exc:
        retry_after = {"Retry_After": str(int(getattr(exc, "wait", None) or 1))}
        raise FhirError(429, "throttled", str(exc.detail), retry_after) from None
    if result is not None:
        return result[0]
    if request.user.is_authenticated:
        return request.user
    raise FhirError(401, "login", ERR_LOGIN)


def require(user: Any, perm: str) -> None:
    if not user.has_perm(perm):
        raise FhirError(403, "forbidden", ERR_FORBIDDEN)


def body_json(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise FhirError(400, "invalid", ERR_BAD_JSON) from None
    if not isinstance(data, dict):
        raise FhirError(400, "invalid", ERR_BAD_JSON)
    return data


def fhir_view(func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a FHIR endpoint: no login redirect (401 OperationOutcome instead), no CSRF
    (token clients, not browsers), every exception turned into an OperationOutcome."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            user = authenticate(request)
            return func(request, user, *args, **kwargs)
        except FhirError as exc:
            headers = {"WWW_Authenticate": "Bearer"} if exc.status == 401 else {}
            headers.update(exc.headers)
            return fhir_response(outcome(exc.code, exc.diagnostics), exc.status, **headers)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return login_not_required(csrf_exempt(wrapper))
