"""Settings read from the environment, with an embedded default.

With nothing set the hub runs on a SQLite file and a filesystem Celery broker under
``var/``, so a newcomer needs no services. Production sets ``DATABASE_URL`` (PostgreSQL)
and ``CELERY_BROKER_URL`` (Redis) and runs exactly the same code.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.crypto.keys import ERR_NO_KEYS, new_key, parse_data_keys, parse_index_key
from config.logs import logging_config
from config.settings.broker import celery_broker
from config.settings.redis_urls import (
    cache_url,
    caches,
    rate_limit_storage_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("HUB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def database_from_env(name: str = "DATABASE_URL") -> dict[str, object]:
    url = os.environ.get(name, "").strip()
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "hub.sqlite3"),
            # WAL lets the worker read while the web process writes; IMMEDIATE makes a
            # writing transaction take the lock up front, so two bookings serialize
            # instead of failing with "database is locked" halfway through.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        }
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(
            f"{name} is malformed: expected postgresql://USER:PASSWORD@HOST:PORT/NAME "
            f"or sqlite:///PATH (scheme seen: {scheme or 'none'!r})"
        )
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is malformed: {exc}") from None
    if config["ENGINE"].endswith("postgresql") and not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} is malformed: it names no database")
    return dict(config)


# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # A stable per-checkout key so sessions survive restarts of the demo.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = key_file.read_text().strip()


# ---------------------------------------------------------------------------
# PHI at rest: data keys (newest first) and the blind-index key
# ---------------------------------------------------------------------------
def _key_material(name: str, default_file: Path, make: Any) -> str:
    """The environment variable, else ``<name>_FILE``, else a per-checkout file under
    ``var/`` made on first start (the embedded default only; production refuses)."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    path = os.environ.get(f"{name}_FILE", "").strip()
    if path:
        return Path(path).read_text()
    if os.environ.get("HUB_ENV") == "production" or os.environ.get(
        "DJANGO_SETTINGS_MODULE", ""
    ).endswith(".production"):
        raise ImproperlyConfigured(
            f"{name} (or {name}_FILE) must be set in production "
            "(or run with HUB_ENV=development for the demo)"
        )
    if not default_file.exists():
        default_file.touch(mode=0o600)
        default_file.write_text(make())
    return default_file.read_text()


HUB_DATA_KEYS = parse_data_keys(
    _key_material(
        "HUB_DATA_KEYS", VAR_DIR / "data_keys", lambda: f"k{int(time.time())}:{new_key()}\n"
    )
)
if not HUB_DATA_KEYS:
    raise ImproperlyConfigured(ERR_NO_KEYS)
HUB_BLIND_INDEX_KEY = parse_index_key(
    _key_material("HUB_BLIND_INDEX_KEY", VAR_DIR / "blind_index_key", new_key)
)

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# ---------------------------------------------------------------------------
# Apps
# ---------------------------------------------------------------------------
DJANGO_APPS = [
    "config.apps.HubAdminConfig",  # django.contrib.admin, auditing PHI it shows
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "template_partials",
    "auditlog",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
]
LOCAL_APPS = [
    # config holds the audit trail's tables (the hash-chained log entry).
    "config.apps.HubConfig",
    "config.security",
    "scheduling",
    "patients",
    "billing",
    "integrations",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    # Outermost: the latency it records covers every other middleware.
    "config.metrics.RequestMetricsMiddleware",
    "config.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below whitenoise: static files stay cacheable, every dynamic answer is no-store.
    "config.security.headers.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Idle and absolute session limits, before anything treats the user as signed in.
    "config.security.sessions.SessionLifetimeMiddleware",
    # Roles that must use a second factor reach nothing but the MFA pages until verified.
    "config.security.mfa.MfaRequiredMiddleware",
    # Everything needs a login unless a view opts out with @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # After CSRF and login: refuses NUL in parameters before any view queries with them.
    "config.middleware.RejectNulMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "config.audit_surface.AuditSurfaceMiddleware",
    "axes.middleware.AxesMiddleware",
    "config.security.throttle.SignInRefusalMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.security.context_processors.mfa",
            ],
        },
    }
]

DATABASES = {"default": database_from_env()}
# A streaming replica of the same database for heavy reads (config.db_router). Tests
# that run with it set read the primary under the replica's name (MIRROR).
if os.environ.get("DATABASE_REPLICA_URL", "").strip():
    DATABASES["replica"] = {
        **database_from_env("DATABASE_REPLICA_URL"),
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------
# Auth, sessions, lockout
# ---------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "config.security.throttle.AddressThrottleBackend",
    "axes.backends.AxesStandaloneBackend",
    "config.security.perms.OneQueryPermissionBackend",  # fills ModelBackend's perm cache
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Idle sessions expire after SESSION_IDLE_MINUTES without a request a person made;
# background polls (marked with the X-Hub-Background header) do not count, so
# SessionLifetimeMiddleware renews the session itself instead of Django saving it on
# every request. Every session also ends SESSION_ABSOLUTE_HOURS after sign-in.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30) * 60
# The payload is encrypted with the data keys (it can hold PHI: the admin search term).
SESSION_ENGINE = "config.sessions"
SESSION_ABSOLUTE_SECONDS = env_int("SESSION_ABSOLUTE_HOURS", 12) * 3600
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Failed sign-ins lock one username from one address (axes), so an attacker elsewhere
# cannot lock an agent out of the call center, whose agents share one NAT address. A
# separate per-address budget (config.security.throttle) slows spraying across usernames.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Failed sign-ins one address may make per window before it is refused until the window
# ends: generous, because a whole call center's typos come from one address.
LOGIN_IP_FAILURE_LIMIT = env_int("LOGIN_IP_FAILURE_LIMIT", 20)
LOGIN_IP_WINDOW_SECONDS = env_int("LOGIN_IP_WINDOW_MINUTES", 15) * 60
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12)},
    },
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Optional OpenID Connect single sign-on (config.security.oidc), off unless a client id
# is set. The IdP's groups map to roles with OIDC_GROUP_ROLES ("idp-group=role,...").
# With OIDC_IDP_ENFORCES_MFA the IdP's own second factor counts and no TOTP is asked.
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "").strip()
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_GROUP_ROLES = os.environ.get("OIDC_GROUP_ROLES", "")
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "groups")
OIDC_IDP_ENFORCES_MFA = env_bool("OIDC_IDP_ENFORCES_MFA", False)
if OIDC_ENABLED:
    OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
    OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
    OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT", "")
    OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT", "")
    OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT", "")
    OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
    OIDC_RP_SCOPES = "openid email profile"
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("config.security.oidc.HubOIDCBackend")

# Multi-factor sign-in (TOTP). The roles in config.security.mfa.MFA_ROLES always need it;
# MFA_FOR_AGENTS extends it to every agent, and any user who enrolled a device uses it.
MFA_FOR_AGENTS = env_bool("MFA_FOR_AGENTS", False)
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Care Hub")

# ---------------------------------------------------------------------------
# Shared cache (sign-in throttles, token rate limits). Redis in production; the embedded
# default keeps it in the process, which suffices for one web process.
# ---------------------------------------------------------------------------
CACHE_URL = cache_url()
CACHES = caches(CACHE_URL)
# Rate limits every process must share (a payer's inquiries per minute): Redis in
# production (config.rate_limits), the process's memory on the embedded default.
RATE_LIMIT_STORAGE_URL = rate_limit_storage_url(CACHE_URL)

# Requests per minute one API token may make (API and FHIR together).
API_TOKEN_RATE_PER_MINUTE = env_int("API_TOKEN_RATE_PER_MINUTE", 600)

# ---------------------------------------------------------------------------
# Response headers. CSP: everything from our own origin; scripts only from files (no
# inline script, no eval); inline style attributes stay allowed for a few templates.
# ---------------------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

# ---------------------------------------------------------------------------
# I18N / time
# ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Stored in UTC; each Location renders in its own IANA zone.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------------------
# Static
# ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# ---------------------------------------------------------------------------
# DRF
# ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "config.schema.HubAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Care Hub API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # The contract is JSON. Form bodies are still parsed for old callers, but a form has
    # no types (every value is text, a garbled multipart body reads as an empty form), so
    # the schema does not offer it to generated clients.
    "PARSER_WHITELIST": ["config.parsers.BoundedJSONParser"],
}
# One schema enum per choice set shared by several scheduling endpoints.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "BookReasonEnum": "scheduling.models.BookReason",
    "CancelReasonEnum": "scheduling.models.CancelReason",
    "CallReasonEnum": "scheduling.models.booking.CallReason",
    "TimeOfDayEnum": "scheduling.models.Waitlist.TimeOfDay",
}

# ---------------------------------------------------------------------------
# Celery
# ---------------------------------------------------------------------------
CELERY_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker(
    CELERY_BROKER_DIR, visibility_timeout=env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
)

# One queue name per deployment; tests give each worker its own so stale messages from
# another run are never picked up.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "hub")

# ---------------------------------------------------------------------------
# Product settings
# ---------------------------------------------------------------------------
SLOT_HORIZON_DAYS = env_int("SLOT_HORIZON_DAYS", 90)
HOLD_MINUTES = env_int("HOLD_MINUTES", 3)
# A call still open this long after it started was left behind (a closed tab, an expired
# session): the beat closes it as abandoned and releases its holds.
CALL_ABANDON_MINUTES = env_int("CALL_ABANDON_MINUTES", 60)
# When a "callback needed" wrap-up gives no due time, the callback is due this long after.
CALLBACK_DUE_MINUTES = env_int("CALLBACK_DUE_MINUTES", 120)
TELEHEALTH_LINK_TEMPLATE = os.environ.get(  # {token}: random per visit, never about the patient
    "TELEHEALTH_LINK_TEMPLATE", "https://video.example.org/{token}"
)
# Telephony webhook (integrations.telephony): the platform's auth token signs every
# event; empty refuses them all. The URL the platform calls, when a proxy in front
# changes the one Django sees (signatures cover the exact URL).
TELEPHONY_AUTH_TOKEN = os.environ.get("TELEPHONY_AUTH_TOKEN", "")
TELEPHONY_WEBHOOK_URL = os.environ.get("TELEPHONY_WEBHOOK_URL", "")

# Integrations retry policy, inbound processing and the outbox relay alike: a transient
# failure waits base * 2^(attempt-1) seconds, capped, and the row is dead-lettered after
# the last attempt (8 attempts at 30 s base span about an hour).
INTEGRATIONS_MAX_ATTEMPTS = env_int("INTEGRATIONS_MAX_ATTEMPTS", 8)
INTEGRATIONS_RETRY_BASE_SECONDS = env_int("INTEGRATIONS_RETRY_BASE_SECONDS", 30)
INTEGRATIONS_RETRY_CAP_SECONDS = env_int("INTEGRATIONS_RETRY_CAP_SECONDS", 3600)
# Refuse plain MLLP, unbound MLLP senders and http:// FHIR endpoints unless a connector
# explicitly allows plain transport (integrations.mllp.peers). On in production.
INTEGRATIONS_REQUIRE_SECURE_TRANSPORT = env_bool("INTEGRATIONS_REQUIRE_SECURE_TRANSPORT", False)

# Patient engagement (scheduling.engagement, integrations.messaging). No texts between
# these local hours (start inclusive, end exclusive) in the patient's time zone.
ENGAGEMENT_QUIET_START_HOUR = env_int("ENGAGEMENT_QUIET_START_HOUR", 21)
ENGAGEMENT_QUIET_END_HOUR = env_int("ENGAGEMENT_QUIET_END_HOUR", 8)
# A waitlist offer by text stands this long; offers go to this many patients at once.
ENGAGEMENT_OFFER_MINUTES = env_int("ENGAGEMENT_OFFER_MINUTES", 30)
ENGAGEMENT_OFFER_FAN_OUT = env_int("ENGAGEMENT_OFFER_FAN_OUT", 2)
# The sandbox SMS gateway's auth token (it speaks Twilio's API, Basic auth and webhook
# signatures included). A real provider's token comes from the variable its connector's
# credentials_ref names.
ENGAGEMENT_SANDBOX_SMS_TOKEN = os.environ.get("ENGAGEMENT_SANDBOX_SMS_TOKEN", "sandbox-auth-token")
# The public URL the provider posts to, when a proxy makes it differ from what Django
# sees (Twilio signs the URL it called).
ENGAGEMENT_SMS_WEBHOOK_URL = os.environ.get("ENGAGEMENT_SMS_WEBHOOK_URL", "")
# Where patients reach the hub's public pages (recall texts link to /book/<location>/).
ENGAGEMENT_PUBLIC_URL = os.environ.get("ENGAGEMENT_PUBLIC_URL", "http://127.0.0.1:8000")

# ---------------------------------------------------------------------------
# Audit trail
# ---------------------------------------------------------------------------
# auditlog's LogEntry with the hash chain and the actor kept as text (config.models).
AUDITLOG_LOGENTRY_MODEL = "config.AuditEntry"
# How long audit entries are kept before a prefix may be archived (HIPAA 164.316(b)(2)).
AUDIT_RETENTION_YEARS = env_int("AUDIT_RETENTION_YEARS", 6)
# The model whose record the accounting of disclosures is about (config names it by
# label, as AUTH_USER_MODEL does, because it sits below the apps).
HUB_PATIENT_MODEL = "patients.Patient"

# One JSON object per line (config.logs) in production and with HUB_LOG_JSON=1; a readable
# line with the same request, task and message ids otherwise (make run's terminal).
HUB_LOG_JSON = env_bool("HUB_LOG_JSON", False)
LOGGING = logging_config(json_lines=HUB_LOG_JSON, level=os.environ.get("LOG_LEVEL", "INFO"))
# The worker logs through LOGGING above, so its lines are JSON too and carry the task id.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# ---------------------------------------------------------------------------
# Revenue cycle (billing)
# ---------------------------------------------------------------------------
# A hold triggers a real-time 270 when the coverage's last check is older than this.
ELIGIBILITY_STALE_DAYS = env_int("ELIGIBILITY_STALE_DAYS", 7)
# The nightly batch checks every appointment in the next N days.
ELIGIBILITY_BATCH_DAYS = env_int("ELIGIBILITY_BATCH_DAYS", 7)
# Payers state their limit per minute (Payer.max_requests_per_minute); this is that
# minute, in seconds (tests shrink it to see several windows in a few seconds).
ELIGIBILITY_RATE_WINDOW_SECONDS = env_int("ELIGIBILITY_RATE_WINDOW_SECONDS", 60)
# Lines above this amount (USD) need an EHR documentation reference (scrubber).
BILLING_DOCUMENTATION_THRESHOLD = env_int("BILLING_DOCUMENTATION_THRESHOLD", 500)
# How many days after the visit the EHR may sign the note before the dates "mismatch".
BILLING_DOCUMENTATION_LAG_DAYS = env_int("BILLING_DOCUMENTATION_LAG_DAYS", 3)
# Our identity on the X12 envelopes (ISA06/GS02, 1000A submitter) and the clearinghouse's.
X12_SENDER_ID = os.environ.get("X12_SENDER_ID", "CAREHUB")
X12_RECEIVER_ID = os.environ.get("X12_RECEIVER_ID", "SBXCLEARING")
X12_USAGE_INDICATOR = os.environ.get("X12_USAGE_INDICATOR", "T")  # ISA15: T test, P production
X12_BILLING_TAX_ID = os.environ.get("X12_BILLING_TAX_ID", "840000001")  # 2010AA REF*EI
X12_SUBMITTER_PHONE = os.environ.get("X12_SUBMITTER_PHONE", "3035550100")  # 1000A PER
# The group's organization NPI and name: the 270's information receiver (2100B) when a
# check has no appointment (and so no location) yet.
X12_GROUP_NPI = os.environ.get("X12_GROUP_NPI", "1234567893")
X12_GROUP_NAME = os.environ.get("X12_GROUP_NAME", "CARE HUB DENTAL GROUP")
