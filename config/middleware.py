"""Refuses NUL characters in query strings, form bodies and URL arguments, for every view.

NUL is never part of a name, a code or a search term, and PostgreSQL text cannot hold
it: a ``%00`` that reaches a query raises DataError, which was a 500 on the admin
changelists, the FHIR searches and anywhere else a parameter meets a filter. One check
here covers every such view, including the ones added later. The answer fits the
caller: a view may name its own renderer (``bad_input_response``, as the FHIR views do
to answer an OperationOutcome); DRF views get DRF's JSON error body; pages get the 400
page. The message never repeats the input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

ERR_NUL = "The request contains a NUL character, which no field accepts."
_FORM = "application/x-www-form-urlencoded"


def _has_nul(values: Any) -> bool:
    return any("\x00" in str(v) for v in values)


def _query_has_nul(query: Any) -> bool:
    return _has_nul(query.keys()) or _has_nul(v for _, vs in query.lists() for v in vs)


def request_has_nul(
    request: HttpRequest, view_func: Callable[..., Any], kwargs: dict[str, Any]
) -> bool:
    if _query_has_nul(request.GET) or _has_nul(kwargs.values()):
        return True
    if request.method != "POST":
        return False
    # A urlencoded body is kept (request.body stays readable), and CsrfViewMiddleware has
    # already parsed the form of every view it guards; a multipart body of a CSRF-exempt
    # view (DRF, FHIR) is left unread, for the view's own parser, whose fields refuse NUL.
    if request.content_type == _FORM or not getattr(view_func, "csrf_exempt", False):
        return _query_has_nul(request.POST)
    return False


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not request_has_nul(request, view_func, view_kwargs):
            return None
        renderer = getattr(view_func, "bad_input_response", None)
        if renderer is not None:
            return renderer(request, ERR_NUL)
        if hasattr(view_func, "cls"):  # a DRF APIView
            return JsonResponse({"detail": ERR_NUL}, status=400)
        return render(request, "400.html", {"message": ERR_NUL}, status=400)
