"""Servers run production settings unless told otherwise, and those pass Django's deploy
checks with no warning."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parent.parent.parent
# What the test run itself sets (browser tests set DJANGO_ALLOW_ASYNC_UNSAFE) is no part
# of a deployment's environment.
SERVICE_VARS = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "DJANGO_SETTINGS_MODULE",
    "HUB_ENV",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS | {"SECRET_KEY"}}
    full.update(env, HUB_VAR_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=120
    )


PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "hub.example.org",
    "CACHE_URL": "redis://127.0.0.1:6379/0",
    # Production refuses to start without the PHI encryption and blind-index keys.
    "HUB_DATA_KEYS": "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "HUB_BLIND_INDEX_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
}


def test_check_deploy_with_production_settings_reports_nothing(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        HUB_ENV="production",
        **PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


WSGI_PROBE = (
    "import config.wsgi; from django.conf import settings; "
    "print(settings.SETTINGS_MODULE, settings.SECURE_HSTS_SECONDS, "
    "settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SESSION_COOKIE_SECURE)"
)


def test_wsgi_defaults_to_production_settings(tmp_path):
    result = run(["-c", WSGI_PROBE], tmp_path, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["config.settings.production", "31536000", "True", "True"]


def test_wsgi_without_a_secret_key_refuses_to_start_and_says_how_to_run_the_demo(tmp_path):
    keys = {k: v for k, v in PRODUCTION_ENV.items() if k.startswith("HUB_")}
    result = run(["-c", WSGI_PROBE], tmp_path, **keys)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr
    assert "HUB_ENV=development" in result.stderr


def test_wsgi_without_data_keys_refuses_to_start_and_says_how_to_run_the_demo(tmp_path):
    result = run(["-c", WSGI_PROBE], tmp_path)
    assert result.returncode != 0
    assert "HUB_DATA_KEYS (or HUB_DATA_KEYS_FILE) must be set in production" in result.stderr
    assert "HUB_ENV=development" in result.stderr


def test_wsgi_runs_development_settings_only_when_asked(tmp_path):
    result = run(["-c", WSGI_PROBE], tmp_path, HUB_ENV="development")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "config.settings.base"


def test_an_unknown_hub_env_is_refused(tmp_path):
    result = run(["-c", WSGI_PROBE], tmp_path, HUB_ENV="staging")
    assert result.returncode != 0 and "HUB_ENV must be" in result.stderr


def test_run_hub_refuses_production_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("HUB_ENV", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(CommandError, match="HUB_ENV=development"):
        call_command("run_hub")
