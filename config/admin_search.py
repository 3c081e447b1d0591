"""Admin search that keeps the typed term out of every URL.

Django's admin searches with GET (``?q=Rivera``), which puts a patient's name or member id
into the address bar, the browser history, and every proxy and server access log. For
the admins of PHI-bearing models the search form posts instead; the term is kept in the
user's session under a random token, and the changelist URL carries only the token
(``?qs=…``), so paging, sorting and filtering keep the search without ever showing it.
A ``?q=`` typed or bookmarked by hand is moved into the session the same way.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

SEARCH_KEY_PARAM = "qs"
SEARCH_FIELD = "q"
_SESSION_KEY = "admin_private_search"
_KEEP = 20  # tokens per session: enough for back-and-forth between a few lists


def _term(request: HttpRequest) -> str:
    token = request.GET.get(SEARCH_KEY_PARAM, "")
    return request.session.get(_SESSION_KEY, {}).get(token, "") if token else ""


class _TokenChangeList(ChangeList):
    def get_filters_params(self, params: Any = None) -> Any:
        # The token is ours, not a field lookup the changelist should filter on.
        lookup = super().get_filters_params(params)
        lookup.pop(SEARCH_KEY_PARAM, None)
        return lookup


class PrivateSearchAdminMixin(admin.ModelAdmin):
    """Base (first) for a ModelAdmin whose ``search_fields`` reach PHI."""

    change_list_template = "admin/private_search_change_list.html"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        term = _term(request)

        class TokenChangeList(_TokenChangeList):
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                self.query = term  # shown in the search box only, never in a link

        return TokenChangeList

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        return super().get_search_results(request, queryset, _term(request) or search_term)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "POST" and "_private_search" in request.POST:
            return _to_token(request, request.POST.get(SEARCH_FIELD, ""))
        if SEARCH_FIELD in request.GET:
            return _to_token(request, request.GET[SEARCH_FIELD])
        return super().changelist_view(request, extra_context)


class BlindIndexSearchAdminMixin(admin.ModelAdmin):
    """Admin search over encrypted columns: ``blind_search_q(term)`` turns the term into
    blind-index lookups (exact phone, DOB, MRN, member id; names through the distinct-
    name cache), since ``search_fields``' LIKE cannot see through ciphertext. The
    ``search_fields`` still switch the search box on and say what is searched."""

    def blind_search_q(self, term: str) -> Q:
        raise NotImplementedError

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(self.blind_search_q(search_term)).distinct(), True


def _to_token(request: HttpRequest, term: str) -> HttpResponseRedirect:
    params = request.GET.copy()
    for name in (SEARCH_FIELD, SEARCH_KEY_PARAM, "p"):  # a new search starts on page 1
        params.pop(name, None)
    term = term.strip()
    if term:
        token = secrets.token_urlsafe(9)
        kept = dict(list(request.session.get(_SESSION_KEY, {}).items())[-(_KEEP - 1) :])
        kept[token] = term
        request.session[_SESSION_KEY] = kept
        params[SEARCH_KEY_PARAM] = token
    query = params.urlencode()
    return HttpResponseRedirect(f"{request.path}?{query}" if query else request.path)
