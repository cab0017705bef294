"""Django settings, read from environment variables (the table is in docs/site.md).

Without any variable set the site runs *embedded*: SQLite and local files under the data
folder (``./var``), Celery over kombu's filesystem transport, a secret key generated once
into the data folder. Production sets ``LEADERBOARD_PRODUCTION=1`` plus ``DATABASE_URL``
(PostgreSQL), ``CELERY_BROKER_URL`` (Redis or RabbitMQ), ``LEADERBOARD_STORAGE=s3`` and the
bucket names, ``DJANGO_SECRET_KEY`` and ``DJANGO_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from leaderboard import env

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env.folder("LEADERBOARD_DATA_DIR", BASE_DIR / "var")
PRODUCTION = env.flag("LEADERBOARD_PRODUCTION", False)
MiB = 1 << 20

# --- core -------------------------------------------------------------------------------------

DEBUG = env.flag("DJANGO_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when LEADERBOARD_PRODUCTION=1")


def _secret_key() -> str:
    key = env.text("DJANGO_SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when LEADERBOARD_PRODUCTION=1")
    path = DATA_DIR / "secret_key"
    if not path.exists():  # embedded mode: one random key per data folder, never in the code
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.items("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.items("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our own static files, no CDN
    "axes",  # login lockout (docs/site.md, "Defences")
    "leaderboard.site",
    "leaderboard.accounts",
    "leaderboard.testsets",
    "leaderboard.submissions",
    "leaderboard.board",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "leaderboard.site.headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the 429 page
]

ROOT_URLCONF = "leaderboard.urls"
WSGI_APPLICATION = "leaderboard.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "leaderboard.site.context.site",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------

_database_url = env.text("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'leaderboard.sqlite3'}"
_database = dj_database_url.parse(_database_url, conn_max_age=env.integer("DATABASE_CONN_MAX_AGE", 60),
                                  conn_health_checks=True)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["CONN_MAX_AGE"] = 0
    # IMMEDIATE: a transaction takes the write lock when it begins, so the quota's
    # count-then-insert cannot interleave between processes; WAL lets readers continue.
    _database.setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
    if _database["NAME"] != ":memory:":
        Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
elif _database["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(f"DATABASE_URL: only SQLite and PostgreSQL are supported, got {_database['ENGINE']}")
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- accounts ---------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out logins (site and /admin/login/)
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "team"
LOGOUT_REDIRECT_URL = "board"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- files ------------------------------------------------------------------------------------

STORAGE_BACKEND = env.choice("LEADERBOARD_STORAGE", "local", allowed=("local", "s3"))
STATIC_URL = "/static/"
STATIC_ROOT = env.folder("LEADERBOARD_STATIC_ROOT", DATA_DIR / "static")
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "public"
PRIVATE_ROOT = DATA_DIR / "private"
_static_backend = ("whitenoise.storage.CompressedManifestStaticFilesStorage" if PRODUCTION
                   else "django.contrib.staticfiles.storage.StaticFilesStorage")
WHITENOISE_USE_FINDERS = not PRODUCTION  # embedded: no collectstatic step needed
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

if STORAGE_BACKEND == "s3":
    _s3_common = {
        "endpoint_url": env.text("LEADERBOARD_S3_ENDPOINT_URL") or None,
        "region_name": env.text("LEADERBOARD_S3_REGION") or None,
        "addressing_style": env.text("LEADERBOARD_S3_ADDRESSING_STYLE") or None,
        "file_overwrite": False,
    }
    _private_bucket = env.text("LEADERBOARD_S3_PRIVATE_BUCKET")
    _public_bucket = env.text("LEADERBOARD_S3_PUBLIC_BUCKET")
    if not _private_bucket or not _public_bucket:
        raise ImproperlyConfigured("LEADERBOARD_STORAGE=s3 needs LEADERBOARD_S3_PRIVATE_BUCKET and "
                                   "LEADERBOARD_S3_PUBLIC_BUCKET")
    STORAGES = {
        "default": {"BACKEND": "leaderboard.storage.PublicS3Storage",
                    "OPTIONS": {**_s3_common, "bucket_name": _public_bucket,
                                "custom_domain": env.text("LEADERBOARD_S3_PUBLIC_DOMAIN") or None}},
        "private": {"BACKEND": "leaderboard.storage.PrivateS3Storage",
                    "OPTIONS": {**_s3_common, "bucket_name": _private_bucket}},
        "staticfiles": {"BACKEND": _static_backend},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL}},
        "private": {"BACKEND": "leaderboard.storage.PrivateFileSystemStorage",
                    "OPTIONS": {"location": str(PRIVATE_ROOT)}},
        "staticfiles": {"BACKEND": _static_backend},
    }

LEADERBOARD_MAX_UPLOAD_BYTES = env.integer("LEADERBOARD_MAX_UPLOAD_MB", 2048, minimum=1) * MiB
# Uploads always go to a temporary file on disk in 1 MiB chunks, never into memory.
FILE_UPLOAD_HANDLERS = ["leaderboard.submissions.uploads.LimitedTemporaryFileUploadHandler"]
FILE_UPLOAD_TEMP_DIR = str(env.folder("LEADERBOARD_UPLOAD_TEMP_DIR", DATA_DIR / "tmp" / "uploads"))
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * MiB  # form fields other than files

# --- security ---------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
#: Content-Security-Policy (django-csp): only this origin's own scripts, styles, images and fonts; no inline
#: script or style, no plugins, no framing, forms post only here. Swagger UI runs from our static files.
_csp_directives = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF],
    "img-src": [SELF, "data:"],
    "font-src": [SELF],
    "connect-src": [SELF],
    "object-src": [NONE],
    "base-uri": [NONE],
    "frame-ancestors": [NONE],
    "form-action": [SELF],
}
if env.text("LEADERBOARD_CSP_REPORT_URI"):
    _csp_directives["report-uri"] = [env.text("LEADERBOARD_CSP_REPORT_URI")]
if env.flag("LEADERBOARD_CSP_REPORT_ONLY", False):  # try a stricter policy out: browsers report, block nothing
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp_directives}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}
#: Permissions-Policy: browser features no page of the site uses, switched off.
LEADERBOARD_PERMISSIONS_POLICY = {feature: "()" for feature in (
    "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone", "payment", "usb")}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.flag("DJANGO_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env.integer("DJANGO_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.flag("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.flag("DJANGO_HSTS_PRELOAD", True)
    if env.flag("DJANGO_BEHIND_PROXY", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    if not SECURE_SSL_REDIRECT:  # the proxy redirects; tell `check --deploy` so
        SILENCED_SYSTEM_CHECKS = ["security.W008"]

# --- e-mail (verification links) ---------------------------------------------------------------

EMAIL_BACKEND = env.text("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.text("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("DJANGO_EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env.text("DJANGO_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.text("DJANGO_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.flag("DJANGO_EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = env.text("DJANGO_DEFAULT_FROM_EMAIL", "leaderboard@localhost")

# --- brute force: logins (django-axes) and API tokens (DRF throttle) --------------------------

#: Reverse proxies in front of the site; the client address is taken from X-Forwarded-For accordingly.
LEADERBOARD_TRUSTED_PROXIES = env.integer("LEADERBOARD_TRUSTED_PROXIES",
                                          1 if PRODUCTION and env.flag("DJANGO_BEHIND_PROXY", True) else 0,
                                          minimum=0)
AXES_FAILURE_LIMIT = env.integer("LEADERBOARD_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.integer("LEADERBOARD_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one account from one address
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "leaderboard.site.client_address.client_ip"
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
#: Failed API-token attempts per client address before every token from it is answered 429 (DRF rate syntax).
LEADERBOARD_TOKEN_FAILURE_RATE = env.text("LEADERBOARD_TOKEN_FAILURE_RATE", "20/hour")

# --- cache ------------------------------------------------------------------------------------

_cache_url = env.text("LEADERBOARD_CACHE_URL", "locmem://")
CACHES: dict[str, dict[str, Any]]
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url,
                          "KEY_PREFIX": "leaderboard"}}
elif _cache_url == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "leaderboard",
                          "OPTIONS": {"MAX_ENTRIES": 5000}}}
else:
    raise ImproperlyConfigured(f"LEADERBOARD_CACHE_URL={_cache_url!r}: expected redis://... or locmem://")

# --- the leaderboard --------------------------------------------------------------------------

LEADERBOARD_DAILY_QUOTA = env.integer("LEADERBOARD_DAILY_QUOTA", 3, minimum=0)
LEADERBOARD_QUOTA_WINDOW_HOURS = env.integer("LEADERBOARD_QUOTA_WINDOW_HOURS", 24, minimum=1)
LEADERBOARD_SIGNUP_OPEN = env.flag("LEADERBOARD_SIGNUP_OPEN", True)
#: Every member of a team verifies their e-mail address (a mailed link) before the team submits.
LEADERBOARD_REQUIRE_VERIFIED_EMAIL = env.flag("LEADERBOARD_REQUIRE_VERIFIED_EMAIL", False)
#: E-mail the submitter when the evaluation made at upload is done or failed (leaderboard/submissions/notifications.py).
LEADERBOARD_EMAIL_ON_FINISH = env.flag("LEADERBOARD_EMAIL_ON_FINISH", True)
#: Maintainers' look-alike view: accounts of one e-mail domain created at most this many hours apart.
LEADERBOARD_LOOKALIKE_HOURS = env.integer("LEADERBOARD_LOOKALIKE_HOURS", 48, minimum=1)
#: Hours after leaving a team before the account may join or create another (0: no cool-down).
LEADERBOARD_TEAM_CHANGE_COOLDOWN_HOURS = env.integer("LEADERBOARD_TEAM_CHANGE_COOLDOWN_HOURS",
                                                     LEADERBOARD_QUOTA_WINDOW_HOURS, minimum=0)
LEADERBOARD_DEFAULT_TESTSET = env.text("LEADERBOARD_DEFAULT_TESTSET")
LEADERBOARD_SCRATCH_DIR = env.folder("LEADERBOARD_SCRATCH_DIR", DATA_DIR / "scratch")
LEADERBOARD_BOOTSTRAP_RESAMPLES = env.integer("LEADERBOARD_BOOTSTRAP_RESAMPLES", 2000, minimum=1)
# Triage impact (evaluator/worklist.py): simulated days for the values, and resamples × days for the intervals.
LEADERBOARD_TRIAGE_DAYS = env.integer("LEADERBOARD_TRIAGE_DAYS", 1000, minimum=1)
LEADERBOARD_TRIAGE_RESAMPLES = env.integer("LEADERBOARD_TRIAGE_RESAMPLES", 100, minimum=1)
LEADERBOARD_TRIAGE_DAYS_PER_RESAMPLE = env.integer("LEADERBOARD_TRIAGE_DAYS_PER_RESAMPLE", 5, minimum=1)
LEADERBOARD_SCORING_PROCESSES = env.integer("LEADERBOARD_SCORING_PROCESSES", max(1, min(4, os.cpu_count() or 1)),
                                            minimum=1)
LEADERBOARD_SOFT_TIME_LIMIT = env.integer("LEADERBOARD_SOFT_TIME_LIMIT", 3600, minimum=10)
LEADERBOARD_HARD_TIME_LIMIT = env.integer("LEADERBOARD_HARD_TIME_LIMIT", LEADERBOARD_SOFT_TIME_LIMIT + 300,
                                          minimum=LEADERBOARD_SOFT_TIME_LIMIT + 1)
LEADERBOARD_HEARTBEAT_SECONDS = env.integer("LEADERBOARD_HEARTBEAT_SECONDS", 10, minimum=1)
LEADERBOARD_STALE_AFTER_SECONDS = env.integer("LEADERBOARD_STALE_AFTER_SECONDS", 120,
                                              minimum=2 * LEADERBOARD_HEARTBEAT_SECONDS)
LEADERBOARD_QUEUED_RESEND_AFTER_SECONDS = env.integer("LEADERBOARD_QUEUED_RESEND_AFTER_SECONDS", 900, minimum=1)
LEADERBOARD_WATCHDOG_SECONDS = env.integer("LEADERBOARD_WATCHDOG_SECONDS", 60, minimum=1)
#: How long a web process keeps serving the board revision it read (cached boards, exports and entry pages are
#: keyed by it) before it looks for a newer one: 1 s (the least) shows a result on every board at once; a busy
#: challenge, whose results land every second, sets a few seconds so each board is rebuilt at most that often
#: (docs/site.md). The process that records a change always sees it at once.
LEADERBOARD_BOARD_REFRESH_SECONDS = env.integer("LEADERBOARD_BOARD_REFRESH_SECONDS", 1, minimum=1)
#: After a board change, how long a web process may keep serving a board, export or entry page of the previous
#: revision while one background thread rebuilds it (0: every request for a new revision waits for the rebuild).
#: A change then reaches a board within REFRESH + STALE seconds, and no reader waits for a rebuild (docs/site.md).
LEADERBOARD_BOARD_STALE_SECONDS = env.integer("LEADERBOARD_BOARD_STALE_SECONDS", 0, minimum=0)
LEADERBOARD_MAX_ATTEMPTS = env.integer("LEADERBOARD_MAX_ATTEMPTS", 3, minimum=1)
LEADERBOARD_TRANSIENT_RETRIES = env.integer("LEADERBOARD_TRANSIENT_RETRIES", 5, minimum=0)
#: Dotted name of the Celery task that runs container submissions (set by the container runner's
#: deployment); empty = container submissions are not accepted by this server.
LEADERBOARD_CONTAINER_TASK = env.text("LEADERBOARD_CONTAINER_TASK")

# --- container submissions (deploy/containers.md) ----------------------------------------------

#: Site-wide defaults of the limits a container runs under (keys of leaderboard.containers.ContainerLimits,
#: e.g. {"memory_bytes": 17179869184, "wall_clock_seconds": 7200}); a test set's ContainerPolicy overrides them.
LEADERBOARD_CONTAINER_LIMITS = env.json_object("LEADERBOARD_CONTAINER_LIMITS", {})
#: Whether containers get the worker's GPUs by default (a test set's ContainerPolicy may say otherwise).
LEADERBOARD_CONTAINER_USE_GPU = env.flag("LEADERBOARD_CONTAINER_USE_GPU", True)
#: Largest uploaded image tarball (as uploaded) and largest image (uncompressed).
LEADERBOARD_MAX_IMAGE_UPLOAD_BYTES = env.integer("LEADERBOARD_MAX_IMAGE_UPLOAD_MB", 20480, minimum=1) * MiB
LEADERBOARD_MAX_IMAGE_BYTES = env.integer("LEADERBOARD_MAX_IMAGE_MB", 40960, minimum=1) * MiB
#: Registries (host[:port]) GPU workers may pull image references from; empty = references refused.
LEADERBOARD_CONTAINER_REGISTRIES = env.items("LEADERBOARD_CONTAINER_REGISTRIES", [])
#: The GPU worker's GPUs (its own environment): device ids ("0", "0,1", "GPU-<uuid>") or a count (-1 = all);
#: neither = containers run without a GPU on this worker.
LEADERBOARD_GPU_DEVICE_IDS = env.items("LEADERBOARD_GPU_DEVICE_IDS", [])
LEADERBOARD_GPU_COUNT = env.integer("LEADERBOARD_GPU_COUNT", 0, minimum=-1)
#: Seconds one call to the container engine may take (loading a multi-GB image is one call).
LEADERBOARD_CONTAINER_ENGINE_TIMEOUT = env.integer("LEADERBOARD_CONTAINER_ENGINE_TIMEOUT", 1800, minimum=10)
#: Celery time limits of one container evaluation (image load + run + scoring); the run's own wall-clock limit
#: is enforced by the runner.
LEADERBOARD_CONTAINER_SOFT_TIME_LIMIT = env.integer("LEADERBOARD_CONTAINER_SOFT_TIME_LIMIT", 3 * 3600, minimum=10)
LEADERBOARD_CONTAINER_HARD_TIME_LIMIT = env.integer("LEADERBOARD_CONTAINER_HARD_TIME_LIMIT",
                                                    LEADERBOARD_CONTAINER_SOFT_TIME_LIMIT + 300,
                                                    minimum=LEADERBOARD_CONTAINER_SOFT_TIME_LIMIT + 1)

# --- Celery -----------------------------------------------------------------------------------

SCORING_QUEUE = env.text("LEADERBOARD_SCORING_QUEUE", "scoring")
GPU_QUEUE = env.text("LEADERBOARD_GPU_QUEUE", "gpu")
CELERY_BROKER_URL = env.text("CELERY_BROKER_URL") or "filesystem://localhost//"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_folder = DATA_DIR / "broker"
    _broker_folder.mkdir(parents=True, exist_ok=True)
    _transport_defaults = {"data_folder_in": str(_broker_folder), "data_folder_out": str(_broker_folder),
                           "control_folder": str(DATA_DIR / "broker-control"), "store_processed": False}
else:  # a message not acknowledged within this time is delivered again (the task stays idempotent)
    _transport_defaults = {"visibility_timeout": max(LEADERBOARD_HARD_TIME_LIMIT,
                                                     LEADERBOARD_CONTAINER_HARD_TIME_LIMIT) + 600}
CELERY_BROKER_TRANSPORT_OPTIONS = {**_transport_defaults,
                                   **env.json_object("CELERY_BROKER_TRANSPORT_OPTIONS", {})}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = SCORING_QUEUE
CELERY_TASK_QUEUES = (
    Queue(SCORING_QUEUE, Exchange(SCORING_QUEUE), routing_key=SCORING_QUEUE),  # CPU: archive scoring, watchdog
    Queue(GPU_QUEUE, Exchange(GPU_QUEUE), routing_key=GPU_QUEUE),  # GPU hosts: container runs only
)
CELERY_TASK_ROUTES = {
    "leaderboard.submissions.tasks.*": {"queue": SCORING_QUEUE, "routing_key": SCORING_QUEUE},
    "leaderboard.containers.*": {"queue": GPU_QUEUE, "routing_key": GPU_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    "watchdog": {"task": "leaderboard.submissions.tasks.watchdog",
                 "schedule": float(LEADERBOARD_WATCHDOG_SECONDS),
                 "options": {"expires": float(LEADERBOARD_WATCHDOG_SECONDS)}},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = False

# --- REST API ---------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leaderboard.accounts.authentication.TeamTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": LEADERBOARD_TRUSTED_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CT-based COVID-19 triage leaderboard API",
    "DESCRIPTION": "Submit prediction archives, follow their evaluation, export the public board. "
                   "Authenticate with `Authorization: Token <team token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"SubmissionKindEnum": "leaderboard.submissions.models.SubmissionKind"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.text("LEADERBOARD_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
