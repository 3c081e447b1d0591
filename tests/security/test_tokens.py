"""API tokens expire, carry scopes, are rate limited per token, and can be revoked; each
refusal, issue and revocation is audited on the token."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import timezone

from config.models import AuditEntry as LogEntry
from integrations.models import ApiToken
from integrations.tokens import ERR_EXPIRED, api_token_issue

pytestmark = pytest.mark.django_db


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def events(token: ApiToken) -> list[str]:
    return list(
        LogEntry.objects.filter(object_pk=str(token.pk), content_type__model="apitoken")
        .order_by("pk")
        .values_list("additional_data__event", flat=True)
    )


def issue(capsys, *args: str) -> tuple[ApiToken, str]:
    call_command("issue_api_token", *args)
    out = capsys.readouterr()
    key = out.out.strip()
    return ApiToken.objects.get(key_hash=ApiToken.hash_key(key)), key


def test_the_command_issues_a_named_scoped_expiring_token_and_audits_it(agent, capsys):
    call_command(
        "issue_api_token",
        "agent.test",
        "--name",
        "partner app",
        "--expires-days",
        "7",
        "--scopes",
        "read",
        "fhir",
    )
    out = capsys.readouterr()
    token = ApiToken.objects.get()
    assert token.key_hash == ApiToken.hash_key(out.out.strip())  # only the hash is kept
    assert token.name == "partner app" and token.user == agent
    assert token.scopes == ["fhir", "read"]
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert "Shown once" in out.err and out.out.strip() not in out.err
    assert events(token) == ["token_issued"]


def test_an_unknown_scope_or_lifetime_is_refused_clearly(agent):
    with pytest.raises(CommandError, match="Unknown scope 'everything'"):
        call_command("issue_api_token", "agent.test", "--scopes", "everything")
    with pytest.raises(CommandError, match="between 1 and 366"):
        call_command("issue_api_token", "agent.test", "--expires-days", "0")


def test_an_expired_token_is_refused_and_the_refusal_audited(agent, capsys):
    token, key = issue(capsys, "agent.test")
    assert Client().get("/api/v1/me/", headers=bearer(key)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    api = Client().get("/api/v1/me/", headers=bearer(key))
    fhir = Client().get("/fhir/r4/Patient?family=x", headers=bearer(key))

    assert api.status_code == 401 and api.json()["detail"] == ERR_EXPIRED
    assert fhir.status_code == 401 and fhir.json()["resourceType"] == "OperationOutcome"
    assert events(token) == ["token_issued", "token_expired_used", "token_expired_used"]


def test_a_read_only_token_cannot_book_or_use_fhir(agent, capsys):
    token, key = issue(capsys, "agent.test", "--scopes", "read")

    assert Client().get("/api/v1/me/", headers=bearer(key)).status_code == 200
    write = Client().post("/api/v1/holds/", {"slot_id": 1}, headers=bearer(key))
    fhir = Client().get("/fhir/r4/metadata", headers=bearer(key))
    fhir_search = Client().get("/fhir/r4/Patient?family=x", headers=bearer(key))

    assert write.status_code == 403 and "do not include book" in write.json()["detail"]
    assert fhir_search.status_code == 403
    assert fhir_search.json()["issue"][0]["code"] == "forbidden"
    assert fhir.status_code in (200, 403)  # metadata may be public; never a 5xx
    refused = [e for e in events(token) if e == "token_scope_refused"]
    assert len(refused) >= 2


def test_a_fhir_token_reads_but_needs_book_to_write(agent, capsys):
    token, key = issue(capsys, "agent.test", "--scopes", "fhir")
    assert Client().get("/fhir/r4/Patient?family=x", headers=bearer(key)).status_code == 200
    hold = Client().post(
        "/fhir/r4/Appointment/$hold",
        "{}",
        content_type="application/fhir+json",
        headers=bearer(key),
    )
    assert hold.status_code == 403
    assert "token_scope_refused" in events(token)


def test_a_revoked_token_stops_working_and_both_are_audited(agent, admin_user, capsys):
    token, key = issue(capsys, "agent.test")

    call_command("revoke_api_token", token.prefix)
    response = Client().get("/api/v1/me/", headers=bearer(key))

    assert response.status_code == 401
    assert events(token) == ["token_issued", "token_revoked", "token_revoked_used"]
    with pytest.raises(CommandError, match="No live token"):
        call_command("revoke_api_token", token.prefix)


def test_an_admin_revokes_tokens_from_the_admin_list(agent, admin_user, client, capsys):
    token, key = issue(capsys, "agent.test")
    client.force_login(admin_user)
    listing = client.get("/admin/integrations/apitoken/")
    assert token.prefix in listing.content.decode()
    assert client.get("/admin/integrations/apitoken/add/").status_code == 403

    client.post(
        "/admin/integrations/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    token.refresh_from_db()
    assert token.revoked and token.revoked_at is not None
    entry = LogEntry.objects.get(object_pk=str(token.pk), additional_data__event="token_revoked")
    assert entry.actor == admin_user
    assert Client().get("/api/v1/me/", headers=bearer(key)).status_code == 401


def test_use_is_recorded_on_the_token(agent, capsys):
    token, key = issue(capsys, "agent.test")
    assert token.last_used_at is None
    Client().get("/api/v1/me/", headers=bearer(key))
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_token_over_its_rate_gets_429_with_retry_after(agent, settings):
    settings.API_TOKEN_RATE_PER_MINUTE = 3
    _token, key = api_token_issue(user=agent, name="busy")
    _other, other_key = api_token_issue(user=agent, name="calm")

    codes = [Client().get("/api/v1/me/", headers=bearer(key)).status_code for _ in range(3)]
    limited = Client().get("/api/v1/me/", headers=bearer(key))
    fhir = Client().get("/fhir/r4/Patient?family=x", headers=bearer(key))

    assert codes == [200, 200, 200]
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    assert fhir.status_code == 429 and 1 <= int(fhir["Retry-After"]) <= 60
    assert fhir.json()["resourceType"] == "OperationOutcome"
    # The limit is per token: another token of the same owner is unaffected.
    assert Client().get("/api/v1/me/", headers=bearer(other_key)).status_code == 200


REDIS = os.environ.get("CELERY_BROKER_URL", "")


@pytest.mark.skipif(not REDIS.startswith("redis://"), reason="needs the Redis of the PG pass")
def test_the_rate_limit_holds_across_processes_through_redis(agent, settings):
    """Two cache connections stand for two web processes sharing Redis."""
    settings.API_TOKEN_RATE_PER_MINUTE = 4
    redis_cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS,
        # Token ids repeat between test runs; the counts must not.
        "KEY_PREFIX": f"authn-test-{uuid.uuid4().hex}",
    }
    with override_settings(CACHES={"default": redis_cache}):
        _token, key = api_token_issue(user=agent, name="spread")
        first = [Client().get("/api/v1/me/", headers=bearer(key)).status_code for _ in range(2)]
        del caches["default"]  # a fresh connection, as another gunicorn worker has
        second = [Client().get("/api/v1/me/", headers=bearer(key)).status_code for _ in range(3)]
        del caches["default"]
    assert first == [200, 200] and second == [200, 200, 429]


def test_a_busy_token_stamps_its_last_use_once_a_minute(agent, capsys):
    token, key = issue(capsys, "agent.test")
    Client().get("/api/v1/me/", headers=bearer(key))
    token.refresh_from_db()
    first_use = token.last_used_at

    Client().get("/api/v1/me/", headers=bearer(key))
    token.refresh_from_db()
    assert token.last_used_at == first_use  # no rewrite of the token row per request

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    Client().get("/api/v1/me/", headers=bearer(key))
    token.refresh_from_db()
    assert token.last_used_at > first_use
