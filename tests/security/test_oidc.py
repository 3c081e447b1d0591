"""Single sign-on maps the identity provider's groups to roles (claim mapping only: the
code flow itself is mozilla-django-oidc's, exercised by its own tests)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ImproperlyConfigured

from config.roles import ADMIN, AGENT, OPS_MANAGER
from config.security.oidc import HubOIDCBackend, parse_group_roles, roles_for_claims

MAPPING = "hub-agents=agent, hub-ops=ops_manager,hub-admins=admin"


def test_group_roles_parse_and_refuse_unknown_roles():
    assert parse_group_roles(MAPPING) == {
        "hub-agents": AGENT,
        "hub-ops": OPS_MANAGER,
        "hub-admins": ADMIN,
    }
    assert parse_group_roles("") == {}
    with pytest.raises(ImproperlyConfigured, match="superuser"):
        parse_group_roles("hub-root=superuser")


@pytest.mark.parametrize(
    ("groups", "roles"),
    [
        (["hub-agents", "hub-ops", "everyone"], {AGENT, OPS_MANAGER}),
        ("hub-admins", {ADMIN}),
        (None, set()),
        (42, set()),
        ([{"name": "hub-admins"}], set()),
    ],
)
def test_claims_grant_only_mapped_groups(groups, roles):
    claims = {"sub": "abc", "groups": groups}
    assert roles_for_claims(claims, parse_group_roles(MAPPING), "groups") == roles


@pytest.fixture
def backend(settings, db) -> HubOIDCBackend:
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example/jwks"
    settings.OIDC_RP_CLIENT_ID = "hub"
    settings.OIDC_RP_CLIENT_SECRET = "s"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_GROUP_ROLES = MAPPING
    return HubOIDCBackend()


def test_a_new_person_gets_the_roles_of_their_groups(backend):
    user = backend.create_user({"sub": "u-1", "email": "a@example.org", "groups": ["hub-ops"]})
    assert user.username == "oidc:u-1"
    assert set(user.groups.values_list("name", flat=True)) == {OPS_MANAGER}
    assert not user.is_staff


def test_roles_follow_the_idp_at_every_sign_in(backend):
    user = backend.create_user({"sub": "u-2", "groups": ["hub-admins"]})
    assert user.is_staff and user.groups.filter(name=ADMIN).exists()

    backend.update_user(user, {"sub": "u-2", "groups": ["hub-agents"]})

    user = User.objects.get(pk=user.pk)
    assert list(user.groups.values_list("name", flat=True)) == [AGENT]
    assert not user.is_staff
    assert Group.objects.filter(name=ADMIN).exists()  # the role stays; the person left it


def test_users_are_found_by_subject_not_by_a_changeable_email(backend):
    user = backend.create_user({"sub": "u-3", "email": "old@example.org", "groups": []})
    found = backend.filter_users_by_claims({"sub": "u-3", "email": "new@example.org"})
    assert list(found) == [user]
    assert not backend.filter_users_by_claims({"email": "old@example.org"}).exists()
