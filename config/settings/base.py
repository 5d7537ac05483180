"""Settings shared by every environment.

Everything that differs between a laptop, CI and production comes from the environment
(django-environ). The defaults here are safe for `make demo` only; `config.settings.production`
refuses to start without real secrets.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = BASE_DIR / ".data"

env = environ.Env()
# The embedded-services owner (`python -m config.devservices`) writes the URLs of the servers it
# started here, so `manage.py` commands in a second terminal find them. Real environment variables
# always win: read_env() only fills in what is missing.
_SERVICES_ENV = DATA_DIR / "services.env"
if _SERVICES_ENV.exists():
    environ.Env.read_env(str(_SERVICES_ENV))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-demo-key-only-for-make-demo-and-tests")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Public base URL of this deployment, used in links we hand to Bitrix24 (install, events, iframe).
KEEPWARM_PUBLIC_URL = env("KEEPWARM_PUBLIC_URL", default="http://127.0.0.1:8000")

# --- Applications -------------------------------------------------------------------------------
# django-tenants: SHARED_APPS live in the public schema (portals, vendor staff, global settings);
# TENANT_APPS get one copy per portal schema (the CRM mirror, assistants, analytics).
# contenttypes and auth are shared only: users are vendor staff and client admins, never mirrored.
SHARED_APPS = [
    "django_tenants",
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.admin",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "health_check",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "tenants",
    "security_docs",
    "sandbox",
]
TENANT_APPS = [
    "crm_sync",
    "assistants",
    "analytics",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Portal"
# django-tenants routes by hostname through a domain model; we resolve portals from verified
# credentials instead (tenants.middleware), so there is no TENANT_DOMAIN_MODEL.
PUBLIC_SCHEMA_NAME = "public"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (config.csp): frame-ancestors 'none' unless a
    # Bitrix24 page allows its own portal's origin.
    "config.csp.KeepwarmCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Must come after authentication (the client-admin path needs request.user) and before
    # any view: it is the one place that decides which portal schema a request may touch.
    "tenants.middleware.PortalResolutionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Response headers -------------------------------------------------------------------------
# One strict policy for every page (django-csp 4). Scripts: our own files plus a per-request
# nonce, no inline handlers and no eval (the back office alone adds 'unsafe-eval' for Alpine.js,
# see config.csp). Inline *styles* are allowed: our templates and Swagger UI use them, and they
# cannot run code. Nobody may frame us (`frame-ancestors 'none'`, plus X-Frame-Options: DENY) except
# the Bitrix24 pages, which allow exactly their own portal's https origin (tenants.b24_views).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Cookies are never readable by scripts (no page of ours reads them: the iframe and the API use
# Bearer tokens). Production adds Secure and the SameSite values the iframe needs.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_HTTPONLY = True

# --- Database -----------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default="postgres://postgres@127.0.0.1:55432/keepwarm",
        engine="django_tenants.postgresql_backend",
    )
}
# Persistent connections: a new PostgreSQL connection per request cost the event endpoint about
# half its time. Health checks drop a connection the server closed before it is used. Each web
# and worker process holds at most one; 0 closes it after every request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 10)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery -----------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:56379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "keepwarm",
        "TIMEOUT": 300,
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Exactly-once effects come from idempotent tasks plus late acks: a task is acknowledged only
# after it finished, a killed worker's task goes back to the queue, and a worker holds at most
# one unacknowledged message so a crash strands nothing else.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("KEEPWARM_QUEUE", default="keepwarm")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest task, or Redis re-delivers a task that is still running.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "keepwarm-scheduler-tick": {
        "task": "tenants.scheduler_tick",
        "schedule": env.float("KEEPWARM_SCHEDULER_TICK_SECONDS", default=30.0),
    },
}

# Every Redis key we own (locks, leases, rate limits) starts with this, so several deployments
# or test runs can share one Redis server without seeing each other's keys.
KEEPWARM_REDIS_NAMESPACE = env("KEEPWARM_REDIS_NAMESPACE", default="keepwarm")

# Periodic per-portal work: one tick fans out to at most this many due portal jobs.
KEEPWARM_SCHEDULER_BATCH = env.int("KEEPWARM_SCHEDULER_BATCH", default=200)
# A portal job holds its portal's lock at most this long (a crashed worker frees it by expiry).
KEEPWARM_PORTAL_LOCK_SECONDS = env.int("KEEPWARM_PORTAL_LOCK_SECONDS", default=1800)

# --- Portal tokens (iframe and API) -------------------------------------------------------------
# Short-lived signed Bearer tokens: the Bitrix24 iframe cannot rely on third-party cookies.
KEEPWARM_PORTAL_TOKEN_TTL = timedelta(seconds=env.int("KEEPWARM_PORTAL_TOKEN_TTL", default=900))

# --- Auth ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Vendor staff need a second factor (TOTP, or a one-time static token) for the back office.
KEEPWARM_ADMIN_REQUIRE_OTP = env.bool("KEEPWARM_ADMIN_REQUIRE_OTP", default=True)
OTP_TOTP_ISSUER = "Keepwarm"
LOGIN_REDIRECT_URL = "/api/v1/portal/"

# --- I18N ---------------------------------------------------------------------------------------
LANGUAGE_CODE = env("DJANGO_LANGUAGE_CODE", default="ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static -------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.PortalTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.authentication.IsPortalPrincipal"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.KeepwarmPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "tenants.api.keepwarm_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Keepwarm API",
    "DESCRIPTION": "Portal-scoped API of Keepwarm. Every call carries a portal Bearer token.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

# --- Admin theme --------------------------------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "Keepwarm back office",
    "SITE_HEADER": "Keepwarm",
    "SHOW_LANGUAGES": True,
    # The login form also asks for the second factor (see tenants.admin.KeepwarmAdminSite).
    "LOGIN": {"form": "django_otp.admin.OTPAdminAuthenticationForm"},
}

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_tenants": {"level": "WARNING"},
        # Every Bitrix24 call is already in the portal's REST log; httpx's own line is noise.
        "httpx": {"level": env("HTTPX_LOG_LEVEL", default="WARNING")},
    },
}

# --- Bitrix24 REST log --------------------------------------------------------------------------
# Marketplace rules: keep REST request/response logs at least 3 days (a system check enforces it).
KEEPWARM_REST_LOG_RETENTION_DAYS = env.int("KEEPWARM_REST_LOG_RETENTION_DAYS", default=7)

# --- Published security sheet -------------------------------------------------------------------
KEEPWARM_SECURITY_CONTACT = env("KEEPWARM_SECURITY_CONTACT", default="security@keepwarm.example")

# --- Secrets at rest ----------------------------------------------------------------------------
# Comma-separated Fernet keys, newest first (tenants.crypto). Empty: derived from SECRET_KEY, which
# is fine for `make demo` and tests only; production settings require the variable.
KEEPWARM_ENCRYPTION_KEYS = env.list("KEEPWARM_ENCRYPTION_KEYS", default=[])

# --- Bitrix24 -----------------------------------------------------------------------------------
# Our Marketplace application's credentials (vendor area); the sandbox portal registers the same.
BITRIX_CLIENT_ID = env("BITRIX_CLIENT_ID", default="app.keepwarm.demo")
BITRIX_CLIENT_SECRET = env("BITRIX_CLIENT_SECRET", default="keepwarm-demo-client-secret")
# Extra CA bundle for HTTPS to portals (the sandbox's local CA); empty = the system trust store.
BITRIX_CA_BUNDLE = env("BITRIX_CA_BUNDLE", default="")
BITRIX_CONNECT_TIMEOUT = env.float("BITRIX_CONNECT_TIMEOUT", default=5.0)
# Bitrix24 cuts any request at 60 s; waiting a little longer lets us see its own answer.
BITRIX_READ_TIMEOUT = env.float("BITRIX_READ_TIMEOUT", default=65.0)
BITRIX_MAX_ATTEMPTS = env.int("BITRIX_MAX_ATTEMPTS", default=8)
# A full sync that has written nothing for this long, and whose worker holds no lock on it, is
# sent again by the periodic crm_sync.sync_resume job (a killed worker's run resumes in a minute).
KEEPWARM_SYNC_STALL_SECONDS = env.int("KEEPWARM_SYNC_STALL_SECONDS", default=60)
# The details backfill (product rows, activity bindings the first full sync leaves unread) runs
# every minute as a periodic job and sends at most this many batch requests per run (about 30 s
# of the standard plan's 2 requests/s), so events and sweeps get the portal between its runs.
KEEPWARM_BACKFILL_REQUESTS_PER_RUN = env.int("KEEPWARM_BACKFILL_REQUESTS_PER_RUN", default=60)
# Stop calling a method when its 10-minute operating time reaches this share of the limit.
BITRIX_OPERATING_LIMIT_SECONDS = env.float("BITRIX_OPERATING_LIMIT_SECONDS", default=480.0)
BITRIX_OPERATING_SAFETY = env.float("BITRIX_OPERATING_SAFETY", default=0.9)
# OAuth servers whose word we take about who a token belongs to (fnmatch patterns). Demo and tests
# add the loopback sandbox portal; production keeps only Bitrix24's own.
BITRIX_OAUTH_SERVERS = env.list(
    "BITRIX_OAUTH_SERVERS",
    default=[
        "https://oauth.bitrix.info/rest/",
        "https://oauth.bitrix24.tech/rest/",
        "http://127.0.0.1:*/rest/",
        "https://127.0.0.1:*/rest/",
        "http://localhost:*/rest/",
        "https://localhost:*/rest/",
    ],
)
# After uninstall a portal's data is kept this long (a re-install within it resumes), then dropped.
KEEPWARM_UNINSTALL_RETENTION_DAYS = env.int("KEEPWARM_UNINSTALL_RETENTION_DAYS", default=30)
# Largest Bitrix24 event body we accept (events carry ids only; anything bigger is hostile).
KEEPWARM_EVENT_MAX_BYTES = env.int("KEEPWARM_EVENT_MAX_BYTES", default=16384)
CELERY_BEAT_SCHEDULE["keepwarm-purge-uninstalled"] = {
    "task": "tenants.purge_uninstalled_portals",
    "schedule": 3600.0,
}

# --- Rate limits on public endpoints (django-ratelimit, counted in Redis) -----------------------
# Behind a proxy, set RATELIMIT_IP_META_KEY (e.g. HTTP_X_FORWARDED_FOR) so clients are told apart.
RATELIMIT_VIEW = "config.views.ratelimited"
RATELIMIT_USE_CACHE = "default"
KEEPWARM_RATE_INSTALL = env("KEEPWARM_RATE_INSTALL", default="30/m")
# Bitrix24 delivers bursts (1,000 changed deals → 1,000 events): counted per portal, generously.
KEEPWARM_RATE_EVENTS = env("KEEPWARM_RATE_EVENTS", default="6000/m")
KEEPWARM_RATE_APP = env("KEEPWARM_RATE_APP", default="120/m")
KEEPWARM_RATE_LOGIN = env("KEEPWARM_RATE_LOGIN", default="10/m")
