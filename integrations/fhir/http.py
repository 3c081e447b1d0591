"""FHIR HTTP plumbing: auth, CSRF, OperationOutcome for every error."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import DataError
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.request import Request

from integrations.auth import BearerTokenAuthentication

FHIR_JSON = "application/fhir+json"

ERR_LOGIN = "Authentication required: send Authorization: Bearer <token>."
ERR_FORBIDDEN = "Your role does not allow this operation."
ERR_NOT_FOUND = "No such resource."
ERR_UNKNOWN_TYPE = "This server does not support that resource type."
ERR_METHOD = "Method not allowed on this endpoint."
ERR_CSRF = (
    "A browser session may change data only with a CSRF token (X-CSRFToken header); "
    "other clients send Authorization: Bearer <token>."
)
ERR_OUT_OF_RANGE = "A search value is outside the range this server can store or compare."
ERR_INTERNAL = "The server could not process this request; it has been logged."

logger = logging.getLogger(__name__)


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


def _csrf_refused(request: HttpRequest) -> bool:
    """Django's own CSRF check, as CsrfViewMiddleware would run it on a form view (safe
    methods pass; the token comes from the form field or the X-CSRFToken header)."""
    check = CsrfViewMiddleware(lambda _: HttpResponse())
    check.process_request(request)
    return check.process_view(request, lambda _: HttpResponse(), (), {}) is not None


def authenticate(request: HttpRequest) -> Any:
    """Bearer token first; a logged-in browser session (admins poking around) also works,
    but then every unsafe method must pass Django's CSRF check, as it would on a form:
    otherwise any page the admin visits could post a hold or a booking with their
    cookie (a cross-site ``text/plain`` POST needs no CORS preflight)."""
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
        if _csrf_refused(request):
            raise FhirError(403, "forbidden", ERR_CSRF)
        return request.user
    raise FhirError(401, "login", ERR_LOGIN)


def require(user: Any, perm: str) -> None:
    if not user.has_perm(perm):
        raise FhirError(403, "forbidden", ERR_FORBIDDEN)


def bad_request(request: HttpRequest, diagnostics: str) -> HttpResponse:
    """The 400 OperationOutcome for input refused before the view runs (config.middleware)."""
    return fhir_response(outcome("invalid", diagnostics), 400)


def fhir_view(func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a FHIR endpoint: no login redirect (401 OperationOutcome instead), CSRF
    checked in ``authenticate`` for session users only (Bearer clients are not browsers),
    and every exception answered as an OperationOutcome, never as an HTML error page."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            user = authenticate(request)
            return func(request, user, *args, **kwargs)
        except FhirError as exc:
            headers = {"WWW_Authenticate": "Bearer"} if exc.status == 401 else {}
            headers.update(exc.headers)
            return fhir_response(outcome(exc.code, exc.diagnostics), exc.status, **headers)
        except DataError:
            # The database refused a value (a number past bigint, a date past its
            # range) that the parameter parsing let through: the client's input.
            logger.warning("FHIR %s: a value out of the database's range", func.__name__)
            return fhir_response(outcome("invalid", ERR_OUT_OF_RANGE), 400)
        except Exception:
            # A bug, not the client's fault: 500, but still FHIR, and with nothing of
            # the request in the message (it may carry PHI).
            logger.exception("FHIR %s failed", func.__name__)
            return fhir_response(outcome("exception", ERR_INTERNAL), 500)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    view = login_not_required(csrf_exempt(wrapper))
    view.bad_input_response = bad_request  # type: ignore[attr-defined]
    return view
