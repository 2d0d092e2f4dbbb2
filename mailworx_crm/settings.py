"""Settings, read from the environment only.

Every value has a working default so that ``make demo`` and ``make test`` need no
configuration. With ``MWX_MODE=production`` the secrets (``SECRET_KEY``,
``FIELD_ENCRYPTION_KEYS``, ``CONSENT_HASH_KEY``) have no default and a missing one stops
start-up. Any variable can instead be given as ``<NAME>_FILE`` naming a file that holds the value
(Docker/Kubernetes secrets); the file wins over ``<NAME>``, and whitespace around its
content (the trailing newline most editors write) is ignored.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


class _FileValues(environ.FileAwareMapping):
    """django-environ's ``<NAME>_FILE`` look-up, without the whitespace around a file's
    content (``DATABASE_URL_FILE`` written by ``echo`` ends in a newline)."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return value.strip() if self.env.get(f"{key}_FILE") else value


class _Env(environ.FileAwareEnv):
    ENVIRON = _FileValues()


env = _Env()

MODE = env.str("MWX_MODE", default="demo")  # "production"; anything else is the demo setup
PRODUCTION = MODE == "production"
VAR_DIR = Path(env.str("MWX_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)  # whitenoise warns about a missing root


def _secret(name: str, demo_default: str) -> str:
    # Read as is: django-environ would take a value starting with "$" (as a random key
    # may) for a reference to another variable.
    value = env.ENVIRON.get(name, None if PRODUCTION else demo_default)
    if not value:
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) must be set when MWX_MODE=production.")
    return value


SECRET_KEY = _secret("SECRET_KEY", "demo-only-insecure-key-do-not-use-in-production-0123456789")
# Comma-separated Fernet keys, newest first; rotate with `manage.py rotate_encryption_keys`.
FIELD_ENCRYPTION_KEYS = [
    k.strip()
    for k in _secret(
        "FIELD_ENCRYPTION_KEYS", "ZGVtby1vbmx5LWZlcm5ldC1rZXktMDEyMzQ1Njc4OTA="
    ).split(",")
    if k.strip()
]
# The key of the consent suppression list's address hashes (audience/suppression_key.py).
# Never rotate it: entries hashed under another key no longer match their address.
CONSENT_HASH_KEY = _secret("CONSENT_HASH_KEY",
                           "demo-only-consent-hash-key-do-not-use-in-production")

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if not PRODUCTION else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The address users reach the product on; shown to the CRM side by "prepare mailworx".
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    # Redoc for /api/v1/docs/ from our own static files (the CSP allows no other origin).
    "drf_spectacular_sidecar",
    "csp",
    "django_htmx",
    "axes",
    "simple_history",
    "mailworx_crm",
    "tenants",
    "audience",
    "orgsettings",
    "businessunits",
    "fieldmapping",
    "syncjobs",
    "crmevents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
    # Last, so it sees the views' exceptions first: refused input is a 4xx, not a 500.
    "mailworx_crm.input_errors.InputErrorsMiddleware",
]

ROOT_URLCONF = "mailworx_crm.urls"
WSGI_APPLICATION = "mailworx_crm.wsgi.application"

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
                "django.template.context_processors.i18n",
                "tenants.context_processors.tenant_nav",
                "mailworx_crm.navigation.tenant_navigation",
                "fieldmapping.context_processors.tenant_warnings",
            ],
        },
    },
]

# SQLite is the embedded default; DATABASE_URL=postgres://… switches to PostgreSQL. SQLite
# runs in WAL mode with a 20 s busy timeout so web and worker can write at once: the
# OPTIONS below, which Django applies to every new connection.
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'mailworx_crm.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory: tests start workers in other processes against the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tenants:home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: lock a username+IP pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Password-reset requests: at most this many per address and per client IP (the address
# axes uses) in each window; more are answered with 429 and send nothing.
PASSWORD_RESET_LIMIT_PER_ADDRESS = env.int("PASSWORD_RESET_LIMIT_PER_ADDRESS", default=3)
PASSWORD_RESET_LIMIT_PER_IP = env.int("PASSWORD_RESET_LIMIT_PER_IP", default=10)
PASSWORD_RESET_LIMIT_WINDOW_MINUTES = env.int("PASSWORD_RESET_LIMIT_WINDOW_MINUTES", default=60)
# An invitation to join a tenant can be accepted for this long.
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

# Rate limits (password resets above, CRM-event throttling) count in this cache; set it to
# one all web processes share (e.g. rediscache://redis:6379/1) when more than one runs.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Vienna")
USE_I18N = True
# Dates per language (mailworx_crm/formats/<lang>/formats.py): "5. Dezember 2026, 14:21",
# "5 Dec 2026, 14:21".
FORMAT_MODULE_PATH = ["mailworx_crm.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic writes (the image builds it into /app/staticfiles, outside the data
# volume); production serves from its manifest and refuses to start without it.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="mailworx-crm@localhost")

# API tokens (django-rest-knox): only a digest is stored; each request for a token makes a
# new one that expires after API_TOKEN_TTL_HOURS. The integration user's token (issued by
# "prepare mailworx") does not expire; re-issuing or revoking ends it.
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=720)
KNOX_TOKEN_MODEL = "tenants.ApiToken"
# knox's own migrations would create its default token table, unused (the model is swapped
# for ours) but referencing users, which makes PostgreSQL refuse to truncate them.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
}
if PRODUCTION:
    # JSON only: DRF's browsable HTML pages carry inline styles the CSP refuses.
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "api.parsers.SafeJSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]
# Request bodies: a bulk API call takes at most 10,000 items and this many bytes (above:
# a JSON 413 naming the limit, docs/api.md); Django parses bodies up to that size.
API_MAX_BULK_BYTES = 20 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BULK_BYTES + 64 * 1024
# Per-tenant rate of CRM-side event reports (crm-events/…), as DRF writes rates.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "crm_events": env.str("CRM_EVENTS_RATE", default="120/min"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mailworx CRM Online Connector API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"StatusEnum": "audience.models.SubscriberStatus",
                            "JobStatusEnum": "syncjobs.models.JobStatus",
                            "LanguageEnum": "mailworx_crm.settings.LANGUAGES",
                            "ConsentStateEnum": "audience.models.ConsentState",
                            "ErasureStateEnum": "syncjobs.models.PropagationState",
                            "OwnerTypeEnum": "businessunits.models.OwnerType",
                            "AttributeTypeEnum": "fieldmapping.models.AttributeType",
                            "EntityTypeEnum": "mailworx_crm.entity_types.EntityType",
                            "PersonRoleEnum": "api.views.operator.PERSON_ROLES",
                            "CrmLinkStateEnum": "syncjobs.models.sync.LinkState"},
}

# Celery: the filesystem broker is the embedded default (no Redis needed for the demo).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_BROKER_DIR / "out"),
        "data_folder_out": str(_BROKER_DIR / "out"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    for _sub in ("out", "processed", "control"):
        (_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
# Where task states and results go (compose: Redis). Jobs keep their own state in JobRun;
# the backend serves `celery inspect`/`result` for operators. Empty: none.
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE = {
    # Resume or fail runs whose worker died (lease expired), re-send lost queued runs, and
    # queue each tenant's scheduled syncs, reaction exports and reconcile runs when due
    # (the intervals are tenant settings, not beat entries).
    "dispatch-due-jobs": {"task": "syncjobs.dispatch_due",
                          "schedule": env.float("JOB_REAPER_TICK_SECONDS", default=60.0)},
    # Retention of personal data in logs, issues and consent history (tenant settings), and
    # erasures still waiting for the CRM (docs/consent.md).
    "privacy-housekeeping": {"task": "syncjobs.privacy_housekeeping", "schedule": 3600.0},
    # Alerts (docs/operations.md): syncs behind schedule, unsent alert emails.
    "watch-alerts": {"task": "syncjobs.watch_alerts",
                     "schedule": env.float("ALERT_TICK_SECONDS", default=300.0)},
}

# Alerts to each tenant's administrators, one email per incident (docs/operations.md):
# after this many failed runs in a row; when no sync succeeded for this many sync
# intervals; a claimed but unfinished send is retried after this many seconds.
ALERT_FAILED_RUNS = env.int("ALERT_FAILED_RUNS", default=3)
ALERT_BEHIND_FACTOR = env.float("ALERT_BEHIND_FACTOR", default=2.0)
ALERT_SEND_CLAIM_SECONDS = env.int("ALERT_SEND_CLAIM_SECONDS", default=600)

# CRM connections (every call has explicit timeouts; retries are bounded).
CRM_CONNECT_TIMEOUT = env.float("CRM_CONNECT_TIMEOUT", default=10.0)
CRM_READ_TIMEOUT = env.float("CRM_READ_TIMEOUT", default=120.0)
CRM_MAX_RETRIES = env.int("CRM_MAX_RETRIES", default=5)
CRM_MAX_WAIT_SECONDS = env.float("CRM_MAX_WAIT_SECONDS", default=300.0)
# A CRM request inside a database transaction: "refuse" raises (demo, tests), "log" warns
# (production). See orgsettings/transaction_guard.py.
CRM_CALL_IN_TRANSACTION = env.str("CRM_CALL_IN_TRANSACTION",
                                  default="log" if PRODUCTION else "refuse")
CRM_CONCURRENCY = env.int("CRM_CONCURRENCY", default=8)
# Outbound connections (SPEC N8, docs/security.md). The CRM URL and the sign-in authority
# are tenant input, so the client connects only to public addresses, and to the private,
# loopback … networks and host names listed here (comma-separated CIDRs, addresses and
# exact host names; operator-only, never tenant-editable).
CRM_ALLOWED_NETWORKS = [e.strip() for e in env.list("CRM_ALLOWED_NETWORKS", default=[])
                        if e.strip()]
# An http(s):// proxy for all CRM and sign-in traffic (empty: direct). CRM calls ignore
# HTTPS_PROXY & co. (trust_env off, see dynamics/transport.py); this is the way to set one.
CRM_HTTPS_PROXY = env.str("CRM_HTTPS_PROXY", default="")

# Background jobs: a running job renews its lease every third of it; half a lease without
# a heartbeat shows "worker lost"; the reaper resumes runs whose lease expired.
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=60)
# A dry run holds one transaction for its whole length; on SQLite that is the database's
# write lock, so there dry runs are limited to tenants of this many live subscribers.
DRY_RUN_SQLITE_MAX_SUBSCRIBERS = env.int("DRY_RUN_SQLITE_MAX_SUBSCRIBERS", default=20000)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
JOB_QUEUE_STALE_SECONDS = env.int("JOB_QUEUE_STALE_SECONDS", default=300)

# Content-Security-Policy (django-csp), in every mode: scripts, styles and everything else
# from this origin only; no inline script or style anywhere (docs/security.md). The one
# page with a wider policy is the API documentation (api/urls.py: Redoc's own styles).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
