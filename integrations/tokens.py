"""API tokens: issuing, revoking, and admitting one request (expiry, scope, rate).

Every refusal a client could be puzzled by is audited on the token (expired, revoked,
out of scope), and so are issuing and revoking, so an administrator can tell what a token
did and why it stopped working. The per-token rate counts in the shared cache (Redis in
production), so the limit holds across every web process.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from config.audit import audit_security_event
from config.compiled import Compiled
from config.security.ratelimit import hit

from .models import DEFAULT_TOKEN_SCOPES, ApiToken

ERR_BAD_TOKEN = "Invalid or revoked token."  # noqa: S105 (a message, not a secret)
ERR_EXPIRED = "This token has expired; ask an administrator for a new one."
ERR_SCOPE = "This token's scopes ({granted}) do not include {needed}."
ERR_UNKNOWN_SCOPE = "Unknown scope {scope!r}; scopes are: {known}."
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How stale ``ApiToken.last_used_at`` may be: it says whether a token is still in use.
LAST_USED_GRAIN = timedelta(minutes=1)


def scopes_needed(path: str, method: str) -> set[str]:
    """FHIR needs ``fhir`` (and ``book`` to write); the rest of the API ``read`` to read
    and ``book`` to write."""
    write = method.upper() not in SAFE_METHODS
    if path.startswith("/fhir/"):
        return {ApiToken.Scope.FHIR, ApiToken.Scope.BOOK} if write else {ApiToken.Scope.FHIR}
    if path.startswith("/metrics"):
        return {ApiToken.Scope.METRICS}
    return {ApiToken.Scope.BOOK} if write else {ApiToken.Scope.READ}


def scopes_clean(scopes: Iterable[str]) -> list[str]:
    known = set(ApiToken.Scope.values)
    cleaned = sorted({s.strip().lower() for s in scopes if s.strip()})
    for scope in cleaned:
        if scope not in known:
            raise ValueError(ERR_UNKNOWN_SCOPE.format(scope=scope, known=", ".join(sorted(known))))
    return cleaned


@transaction.atomic
def api_token_issue(
    *,
    user: Any,
    name: str,
    scopes: Iterable[str] = DEFAULT_TOKEN_SCOPES,
    expires_days: int | None = 90,
    by: Any = None,
) -> tuple[ApiToken, str]:
    """A new token and its key (shown once; only the hash is kept)."""
    lifetime = timedelta(days=expires_days) if expires_days is not None else None
    token, key = ApiToken.issue(user, name, scopes=scopes_clean(scopes), expires_in=lifetime)
    audit_security_event(
        actor=by,
        instance=token,
        event="token_issued",
        scopes=token.scopes,
        expires_at=token.expires_at.isoformat() if token.expires_at else None,
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: Any = None) -> bool:
    """Revokes the token; False when it already was (nothing is written twice)."""
    now = timezone.now()
    changed = ApiToken.objects.filter(pk=token.pk, revoked=False).update(
        revoked=True, revoked_at=now
    )
    if changed:
        token.revoked, token.revoked_at = True, now
        audit_security_event(actor=by, instance=token, event="token_revoked")
    return bool(changed)


# Every API request reads its token with its user: compiled once (config.compiled).
_token_by_hash: Compiled[ApiToken] = Compiled(
    lambda key_hash: ApiToken.objects.select_related("user").filter(key_hash=key_hash)[:1],
    key_hash="stand-in key hash",
)


def api_token_admit(key: str, *, path: str, method: str) -> ApiToken:
    """The token for this key if it may make this request now; raises the DRF error the
    client gets otherwise (401 unknown, revoked or expired; 403 scope; 429 rate)."""
    token = _token_by_hash.first(key_hash=ApiToken.hash_key(key))
    if token is None or not token.user.is_active:
        raise exceptions.AuthenticationFailed(ERR_BAD_TOKEN)
    if token.revoked:
        audit_security_event(actor=token.user, instance=token, event="token_revoked_used")
        raise exceptions.AuthenticationFailed(ERR_BAD_TOKEN)
    now = timezone.now()
    if token.is_expired(now):
        audit_security_event(actor=token.user, instance=token, event="token_expired_used")
        raise exceptions.AuthenticationFailed(ERR_EXPIRED)
    needed = scopes_needed(path, method)
    if not token.allows(needed):
        audit_security_event(
            actor=token.user,
            instance=token,
            event="token_scope_refused",
            needed=sorted(needed),
            method=method.upper(),
        )
        granted = ", ".join(token.scopes) or "none"
        raise exceptions.PermissionDenied(
            ERR_SCOPE.format(granted=granted, needed=" and ".join(sorted(needed)))
        )
    _rate_admit(token)
    # Stamped once a minute at most: a busy client would otherwise rewrite its token row (a
    # commit of its own, and a queue on the row lock when it sends requests in
    # parallel) on every request, for a stamp nobody reads to the second.
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_GRAIN:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def _rate_admit(token: ApiToken) -> None:
    """A one-minute window per token in the shared cache, so the limit holds across
    every web process."""
    used, left = hit(f"token-rate:{token.pk}", 60)
    if used > settings.API_TOKEN_RATE_PER_MINUTE:
        raise exceptions.Throttled(wait=left)
