"""Optional single sign-on with an OpenID Connect identity provider (off by default).

Turned on by OIDC_RP_CLIENT_ID (see config.settings.base). mozilla-django-oidc runs the
code flow and checks the ID token; this module only decides who the person is here:
their roles follow the IdP's groups on every sign-in (OIDC_GROUP_ROLES maps group names
to roles), so removing someone from a group at the IdP removes the role at the next
sign-in. A person in no mapped group signs in with no role and sees nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from config.roles import ADMIN, COMPLIANCE, ROLE_PERMISSIONS

BACKEND_PATH = "config.security.oidc.HubOIDCBackend"
STAFF_ROLES = frozenset({ADMIN, COMPLIANCE})  # they work in the Django admin


def parse_group_roles(raw: str) -> dict[str, str]:
    """``"idp-group=role,other-group=role"`` into a mapping; unknown roles are refused."""
    mapping: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        group, sep, role = item.partition("=")
        role = role.strip()
        if not sep or not group.strip() or role not in ROLE_PERMISSIONS:
            raise ImproperlyConfigured(
                f"OIDC_GROUP_ROLES entry {item.strip()!r} must be IDP_GROUP=ROLE with ROLE one "
                f"of: {', '.join(sorted(ROLE_PERMISSIONS))}"
            )
        mapping[group.strip()] = role
    return mapping


def roles_for_claims(claims: Mapping[str, Any], mapping: Mapping[str, str], claim: str) -> set[str]:
    """The hub roles the IdP's group claim grants (a missing or odd claim grants none)."""
    groups: Any = claims.get(claim) or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, Iterable):
        return set()
    return {mapping[g] for g in groups if isinstance(g, str) and g in mapping}


class HubOIDCBackend(OIDCAuthenticationBackend):
    """Creates or updates the user, then sets their roles from the group claim."""

    def get_username(self, claims: Mapping[str, Any]) -> str:
        # Stable across email changes: the IdP's subject, namespaced.
        return f"oidc:{claims['sub']}"[:150]

    def filter_users_by_claims(self, claims: Mapping[str, Any]) -> Any:
        sub = claims.get("sub")
        if not sub:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(username=self.get_username(claims))

    def create_user(self, claims: Mapping[str, Any]) -> Any:
        user = self.UserModel.objects.create_user(
            self.get_username(claims), email=claims.get("email", "")
        )
        return self.update_user(user, claims)

    def update_user(self, user: Any, claims: Mapping[str, Any]) -> Any:
        roles = roles_for_claims(
            claims, parse_group_roles(settings.OIDC_GROUP_ROLES), settings.OIDC_GROUPS_CLAIM
        )
        user.groups.set(Group.objects.filter(name__in=roles))
        user.is_staff = bool(roles & STAFF_ROLES)
        user.email = claims.get("email", user.email)
        user.save(update_fields=["is_staff", "email"])
        return user


def signed_in_with_oidc(request: Any) -> bool:
    from django.contrib.auth import BACKEND_SESSION_KEY

    session = getattr(request, "session", None)
    return session is not None and session.get(BACKEND_SESSION_KEY) == BACKEND_PATH
