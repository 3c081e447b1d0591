from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from config import audit_triggers
from config.roles import ADMIN, AGENT, BILLER, COMPLIANCE, OPS_MANAGER
from tests.mfa import VerifiedClient

ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "var", "test-artifacts")


@pytest.fixture(scope="session", autouse=True)
def _audit_triggers_lifted_around_flush():
    """Transactional tests empty every table after each test (TRUNCATE on PostgreSQL,
    DELETE on SQLite), which the audit table's triggers refuse, as they must in
    production. The test database's flush lifts them around it, as a superuser doing
    maintenance would, and puts them back."""
    from django.db import connection

    ops_class = type(connection.ops)
    original = ops_class.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if audit_triggers.TABLE in tables:
            # auditlog's own table, which nothing writes since the swap, still points at
            # users and content types: PostgreSQL truncates those only together with it.
            tables = [*tables, "auditlog_logentry"]
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if audit_triggers.TABLE not in tables:
            return statements
        vendor = self.connection.vendor
        return [
            *audit_triggers.drop_sql(vendor),
            *statements,
            *audit_triggers.install_sql(vendor),
        ]

    ops_class.sql_flush = sql_flush
    yield
    ops_class.sql_flush = original


def _user(username: str, role: str | None) -> User:
    user = User.objects.create_user(
        username=username, password="pw-for-tests-only", is_staff=role == ADMIN
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture(autouse=True)
def _empty_cache():
    """Sign-in throttles and token rate limits count in the cache: each test starts at 0."""
    yield
    cache.clear()


@pytest.fixture
def client() -> VerifiedClient:
    """pytest-django's client, whose force_login also passes the second factor."""
    return VerifiedClient()


@pytest.fixture
def agent(db) -> User:
    return _user("agent.test", AGENT)


@pytest.fixture
def other_agent(db) -> User:
    return _user("agent.other", AGENT)


@pytest.fixture
def ops_manager(db) -> User:
    return _user("ops.test", OPS_MANAGER)


@pytest.fixture
def biller(db) -> User:
    return _user("biller.test", BILLER)


@pytest.fixture
def compliance_officer(db) -> User:
    return _user("privacy.test", COMPLIANCE)


@pytest.fixture
def admin_user(db) -> User:
    user = _user("admin.test", ADMIN)
    user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def admin_client(admin_user) -> VerifiedClient:
    """pytest-django's admin_client, signed in with the second factor too."""
    client = VerifiedClient()
    client.force_login(admin_user)
    return client


@pytest.fixture
def outsider(db) -> User:
    """Logged in, but in no role."""
    return _user("outsider.test", None)


@pytest.fixture
def artifacts_dir() -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS
