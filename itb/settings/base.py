"""Settings shared by every environment.

Everything that differs between machines comes from the environment (12-factor). With nothing
set, the app runs on a fresh clone with no services: a SQLite file, a filesystem Celery broker and
emails written to files, all under ``var/``. ``DATABASE_URL`` switches to PostgreSQL and
``REDIS_URL`` to Redis (Celery broker and cache).
"""

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("ITB_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

# --- Applications -------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "audit",
    "pumps",
    "dosing",
    "refills",
    "alerts",
    "api",
    "web",
]

MIDDLEWARE = [
    # First: every response, log line and access-log row of the request carries its id.
    "audit.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "itb.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SessionTimeoutMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the view: the patient reads it noted, in one INSERT (audit/access.py).
    "audit.middleware.AccessLogMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "itb.urls"
WSGI_APPLICATION = "itb.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "web.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
# SQLite by default so a fresh clone runs with nothing installed; DATABASE_URL for PostgreSQL,
# e.g. postgres://itb@127.0.0.1:5432/itb


def database_options(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (a DATABASES entry) with the options of its engine; production's database
    too."""
    options = config.setdefault("OPTIONS", {})
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Wait for a writer instead of failing at once: web, worker and beat share one file.
        options["timeout"] = 20
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # Prepared statements on, for itb.db.prepared_cursor only: psycopg would prepare a
        # statement by itself after this many runs, that is never (Django's default, None,
        # turns them off altogether).
        options.setdefault("prepare_threshold", 2**31 - 1)
    return config


DATABASES = {
    "default": database_options(
        env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'itb.sqlite3'}")
    ),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Time ---------------------------------------------------------------------------------------
# Everything is stored in UTC (USE_TZ). The clinic time zone is the default for new clinics and
# the zone pages are shown in; each clinic (and patient) may override it.
USE_TZ = True
CLINIC_TIME_ZONE = env.str("CLINIC_TIME_ZONE", default="America/New_York")
try:
    ZoneInfo(CLINIC_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(
        f"CLINIC_TIME_ZONE={CLINIC_TIME_ZONE!r} is not an IANA time zone name"
    ) from exc
TIME_ZONE = CLINIC_TIME_ZONE
LANGUAGE_CODE = "en-us"
USE_I18N = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Password validation ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Redis: Celery broker and cache -------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        # A task not acknowledged within this time is redelivered (acks_late tasks survive a
        # worker crash); longer than any task may run.
        "visibility_timeout": 3600,
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    # Kombu's filesystem transport needs no server: messages are files under var/.
    CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(CELERY_BROKER_DIR),
        # Broadcast (pidbox) files, otherwise written to ./control in the working directory.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With acks_late, a task running when the broker connection drops is delivered again. Let it
# finish rather than cancel it: cancelling a send after the mail server accepted the message
# left the delivery in "sending", and the lease then sent it a second time. A redelivered send
# finds its delivery already claimed or sent (compare-and-set in alerts.outbox) and does nothing.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# The alert sweep and the outbox dispatcher run every minute (issue: a due alert is raised
# within one sweep). The worker also runs both once when it starts.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "alerts-sweep": {"task": "alerts.sweep", "schedule": 60.0},
    "alerts-dispatch": {"task": "alerts.dispatch", "schedule": 30.0},
}

# --- Email --------------------------------------------------------------------------------------
# Default: every email is written as a file under var/mail/ so alerts can be read with no mail
# server. Set EMAIL_URL (smtp://user:pass@host:port) to send through a real server.
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    _email = env.email_url("EMAIL_URL")
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ITB clinic <no-reply@itb.invalid>")
EMAIL_TIMEOUT = 20

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenScopePermission",
    ],
    # JSON only, for a browser too: DRF's browsable API styles itself inline, which the
    # Content-Security-Policy refuses. /api/docs/ (Swagger UI) is the in-browser explorer.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Every endpoint, the dosing calculators too, counts against the caller's per-token rate.
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
}
# Requests per API token (per user for a browser session) and minute; the counters live in the
# cache (Redis when REDIS_URL is set).
ITB_API_THROTTLE_RATE = env.str("ITB_API_THROTTLE_RATE", default="600/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "ITB pump clinic API",
    "DESCRIPTION": (
        "Intrathecal baclofen pump programs, refills, projections and alerts. Authenticate with "
        "`Authorization: Bearer <token>` (issued with `manage.py issue_api_token` or in the "
        "admin). Changes need `If-Match` with the record's ETag; POSTs accept an "
        "`Idempotency-Key`. Times are ISO 8601 in UTC; quantities carry their unit in the "
        "field name."
    ),
    # Operations are grouped by resource (the path segment after /api/v1/).
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A visit's status appears in two components (RefillVisit, RefillVisitCompleted): named
    # here, its enum keeps the name it has always had.
    "ENUM_NAME_OVERRIDES": {"RefillVisitStatusEnum": "refills.models.VisitStatus"},
    # The default hook (enums as components), then: what the API answers declares every
    # property it may hold, so an undeclared one fails schema validation (api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.close_response_objects",
    ],
}

# --- Security headers ---------------------------------------------------------------------------
# On every response, in every environment (itb/security.py adds the CSP and Permissions-Policy;
# Django's middleware the rest). No inline script or style anywhere: pages use static/css and the
# API docs their sidecar files, so a script injected into a page cannot run.
ITB_CONTENT_SECURITY_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    # data: for the small icons Swagger UI and the admin embed in their stylesheets.
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
# Features no page uses, turned off for the page and anything it could embed.
ITB_PERMISSIONS_POLICY: dict[str, list[str]] = {
    name: []
    for name in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# A refused form (no or stale CSRF token) gets the plain 403 page with what to do next.
CSRF_FAILURE_VIEW = "itb.views.csrf_failure"

# --- Access log ---------------------------------------------------------------------------------
# How many reverse proxies in front of the app append the client's address to X-Forwarded-For
# (0: clients connect directly). The access log records the address the outermost one saw.
ITB_TRUSTED_PROXIES = env.int("ITB_TRUSTED_PROXIES", default=0)

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line names its request (the X-Request-ID header; "-" outside a request).
    # Secrets in URLs and database row values are redacted from every line (itb/security.py).
    "filters": {
        "request_id": {"()": "audit.request_id.RequestIdFilter"},
        "redact": {"()": "itb.security.RedactingFilter"},
        "no_query_string": {"()": "itb.security.QueryStringFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # No error reports by email: Django's mail_admins handler would send the request's
        # POST data (patient details) with the traceback. Errors go to the console like the
        # rest (the path and traceback only), and the error page shows the request id.
        "django": {"handlers": [], "level": "INFO"},
        # At DEBUG it logs every missing template variable with the whole template context,
        # patients included.
        "django.template": {"level": "INFO"},
        # The development server's request lines (`make run`), through the console handler
        # like the rest, without the query string, where the board's search puts a name or
        # MRN (gunicorn's access log leaves it out too: gunicorn.conf.py).
        "django.server": {"level": "INFO", "filters": ["no_query_string"], "propagate": True},
    },
}

# --- Sign-in and sessions -----------------------------------------------------------------------
# Every password sign-in (the site and the admin) goes through the lockout backend: after
# ITB_LOGIN_MAX_FAILURES failed passwords or two-factor codes within the window, that username is
# refused from that address for the cool-off. Other addresses are unaffected, so nobody can lock
# a nurse out from everywhere by typing her username (accounts/lockout.py).
AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutModelBackend"]
ITB_LOGIN_MAX_FAILURES = env.int("ITB_LOGIN_MAX_FAILURES", default=5)
ITB_LOGIN_FAILURE_WINDOW_MINUTES = env.int("ITB_LOGIN_FAILURE_WINDOW_MINUTES", default=15)
ITB_LOGIN_LOCKOUT_MINUTES = env.int("ITB_LOGIN_LOCKOUT_MINUTES", default=15)
# The lockout keys on the client address of the access log (ITB_TRUSTED_PROXIES above): behind
# a proxy, set it, or every user shares the proxy's address.
# Two-factor authentication (TOTP) for clinicians and nurses: whether a new clinic requires it
# (each clinic sets its own in the admin), whether administrators with no clinic must use it,
# and the name authenticator apps show.
ITB_TWO_FACTOR_REQUIRED_DEFAULT = env.bool("ITB_TWO_FACTOR_REQUIRED_DEFAULT", default=True)
ITB_TWO_FACTOR_REQUIRED_FOR_ADMINS = env.bool("ITB_TWO_FACTOR_REQUIRED_FOR_ADMINS", default=False)
ITB_TWO_FACTOR_ISSUER = env.str("ITB_TWO_FACTOR_ISSUER", default="ITB pump clinic")
# Browser sessions end after this much inactivity and this long after signing in; the defaults
# of new clinics and the limits for users with no clinic (administrators).
ITB_SESSION_IDLE_MINUTES = env.int("ITB_SESSION_IDLE_MINUTES", default=30)
ITB_SESSION_MAX_HOURS = env.int("ITB_SESSION_MAX_HOURS", default=12)
# The session store forgets a session after the longest lifetime a clinic may set (24 h).
SESSION_COOKIE_AGE = 24 * 60 * 60

# --- Clinic defaults ----------------------------------------------------------------------------
# Defaults for new clinics; each clinic edits its own copy in the admin (domain.md §2.6, §4).
ITB_DEFAULT_REFILL_BUFFER_DAYS = env.int("ITB_DEFAULT_REFILL_BUFFER_DAYS", default=7)
ITB_DEFAULT_HIGH_RISK_REFILL_BUFFER_DAYS = env.int(
    "ITB_DEFAULT_HIGH_RISK_REFILL_BUFFER_DAYS", default=10
)

# --- Alerts -------------------------------------------------------------------------------------
# Defaults for a clinic with no alert policy of its own (each clinic edits its own in the admin).
# These are clinic policy, not label facts: domain.md §4 (refill 3–10 days before the alarm,
# schedule replacement at least 3 months ahead), §2.8 (withdrawal can progress over 24–72 h).
ITB_ALERT_POLICY_DEFAULTS = {
    "not_booked_lead_days": env.int("ITB_ALERT_NOT_BOOKED_LEAD_DAYS", default=14),
    "high_risk_not_booked_lead_days": env.int(
        "ITB_ALERT_HIGH_RISK_NOT_BOOKED_LEAD_DAYS", default=21
    ),
    "reminder_lead_days": env.int("ITB_ALERT_REMINDER_LEAD_DAYS", default=3),
    "high_risk_reminder_lead_days": env.int("ITB_ALERT_HIGH_RISK_REMINDER_LEAD_DAYS", default=5),
    "missed_grace_hours": env.int("ITB_ALERT_MISSED_GRACE_HOURS", default=4),
    "high_risk_missed_grace_hours": env.int("ITB_ALERT_HIGH_RISK_MISSED_GRACE_HOURS", default=2),
    "empty_soon_hours": env.int("ITB_ALERT_EMPTY_SOON_HOURS", default=72),
    "replacement_lead_days": env.int("ITB_ALERT_REPLACEMENT_LEAD_DAYS", default=120),
    "stability_lead_days": env.int("ITB_ALERT_STABILITY_LEAD_DAYS", default=14),
    "escalation_minutes": env.int("ITB_ALERT_ESCALATION_MINUTES", default=240),
    "high_risk_escalation_minutes": env.int("ITB_ALERT_HIGH_RISK_ESCALATION_MINUTES", default=60),
    "critical_repeat_minutes": env.int("ITB_ALERT_CRITICAL_REPEAT_MINUTES", default=60),
}
# The outbox: a claimed delivery whose worker died is requeued after the lease; a queued one
# whose task was lost (broker flushed or restarted) is put on the broker again after
# ``requeue_after_seconds``. Failed sends retry with doubling delays up to ``retry_max_seconds``;
# after ``max_attempts`` the delivery is marked failed (the alert still escalates).
ITB_ALERT_DELIVERY = {
    # Several times EMAIL_TIMEOUT (20 s): a send that is merely slow is never taken over.
    "lease_seconds": env.int("ITB_ALERT_LEASE_SECONDS", default=120),
    "requeue_after_seconds": env.int("ITB_ALERT_REQUEUE_AFTER_SECONDS", default=60),
    "retry_base_seconds": env.int("ITB_ALERT_RETRY_BASE_SECONDS", default=60),
    "retry_max_seconds": env.int("ITB_ALERT_RETRY_MAX_SECONDS", default=1800),
    "max_attempts": env.int("ITB_ALERT_MAX_ATTEMPTS", default=24),
    "batch": env.int("ITB_ALERT_DISPATCH_BATCH", default=500),
}
# /healthz/alerts answers 503 when the last sweep is older than this, or a due delivery has
# waited longer than the backlog limit.
ITB_ALERT_SWEEP_STALE_SECONDS = env.int("ITB_ALERT_SWEEP_STALE_SECONDS", default=180)
ITB_ALERT_BACKLOG_STALE_SECONDS = env.int("ITB_ALERT_BACKLOG_STALE_SECONDS", default=600)
# Signed acknowledge links in staff emails expire after this many hours.
ITB_ALERT_ACK_LINK_HOURS = env.int("ITB_ALERT_ACK_LINK_HOURS", default=72)
# Absolute links in emails start with this (the address staff open the app at).
ITB_BASE_URL = env.str("ITB_BASE_URL", default="http://127.0.0.1:8000")
