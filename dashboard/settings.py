"""Rungs settings: one file, driven by environment variables, safe local defaults.

With no environment at all Rungs runs embedded: SQLite (WAL) under ``var/``, a Celery
``filesystem://`` broker under ``var/``, and an in-memory channel layer. ``DATABASE_URL``
and ``REDIS_URL`` switch to PostgreSQL, a Redis broker and channels-redis. A bad value
stops start-up with a message naming the variable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {raw!r}")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("RUNGS_DEBUG", True)
SECRET_KEY = env_str("RUNGS_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("RUNGS_SECRET_KEY must be set when RUNGS_DEBUG is off")
    SECRET_KEY = "rungs-insecure-local-development-key-do-not-use-in-production-0123456789"
ALLOWED_HOSTS = env_list("RUNGS_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("RUNGS_CSRF_TRUSTED_ORIGINS", [])
VAR_DIR = Path(env_str("RUNGS_VAR_DIR", str(BASE_DIR / "var"))).resolve()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "sweeps",
    "trainers",
    "dashboard",
]

MIDDLEWARE = [
    # Outside everything that writes a body, so the final answer is what gets compressed
    # (streamed exports too, chunk by chunk), and only for a client that sent
    # Accept-Encoding: gzip. 10,000 trials of JSON shrink about 10x. BREACH: API answers
    # carry no secret beside what a client sends; pages carry the CSRF token, which Django
    # masks anew on every response, and this middleware pads its output with random bytes
    # (Heal-The-Breach). HTTP only: WebSockets never pass through this list.
    "django.middleware.gzip.GZipMiddleware",
    # So that every /api/ answer (Django's own 400/404/413/500 too) is JSON.
    "sweeps.api.middleware.ApiErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Inside the session, CSRF and auth middleware: the 404 page is a page like any other.
    "dashboard.middleware.PlainNotFoundMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
# PostgreSQL connections one process (daphne, a worker) may hold at once, and the seconds a
# query waits for one of them when all are lent out.
RUNGS_DB_POOL_SIZE = env_int("RUNGS_DB_POOL_SIZE", 10, minimum=1)
RUNGS_DB_POOL_TIMEOUT = env_float("RUNGS_DB_POOL_TIMEOUT", 30.0, minimum=0.1)


def _forget_inherited_pools() -> None:
    # A forked child (a test's live server) inherits the parent's pool: its sockets are the
    # parent's and its threads did not survive. The child opens a pool of its own.
    base = sys.modules.get("django.db.backends.postgresql.base")
    if base is not None:
        base.DatabaseWrapper._connection_pools.clear()


if DATABASE_URL:
    import dj_database_url

    scheme = urlparse(DATABASE_URL).scheme
    if scheme not in ("postgres", "postgresql", "pgsql", "sqlite"):
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// (or sqlite://) URL, got scheme {scheme!r}"
        )
    # Persistent connections (CONN_MAX_AGE) are kept per thread, and Django under ASGI runs
    # each request's sync code on a thread of its own: a burst of 500 GETs, 50 at a time,
    # left the web process holding 61 connections and the server refusing clients ("too many
    # clients"). A pool bounds them per process instead, and a burst waits for a free one;
    # CONN_MAX_AGE must then be 0 (Django hands the connection back after each request). The
    # health check makes the pool test a connection before lending it, so one the server
    # ended (pg_terminate_backend, a restart) is replaced instead of failing a request.
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        options = DATABASES["default"].setdefault("OPTIONS", {})
        # Names this site's sessions in pg_stat_activity (a DATABASE_URL option overrides it).
        options.setdefault("application_name", "rungs")
        options["pool"] = {
            "min_size": 1,
            "max_size": RUNGS_DB_POOL_SIZE,
            "timeout": RUNGS_DB_POOL_TIMEOUT,  # a request waits this long, then fails (500)
            "max_idle": 60.0,  # connections above min_size close after a minute unused
        }
        os.register_at_fork(after_in_child=_forget_inherited_pools)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": Path(env_str("RUNGS_SQLITE_PATH", str(VAR_DIR / "rungs.sqlite3"))),
            # WAL lets the web process read while workers write; IMMEDIATE makes a writing
            # transaction take the lock up front instead of failing on upgrade.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # One test database per test run (processes it starts inherit the name), so that
            # runs side by side on one machine never share a file.
            "TEST": {
                "NAME": os.environ.setdefault(
                    "RUNGS_TEST_DB", str(VAR_DIR / f"test-rungs-{os.getpid()}.sqlite3")
                )
            },
        }
    }
EMBEDDED = DATABASES["default"]["ENGINE"].endswith("sqlite3")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery, channels -----------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and urlparse(REDIS_URL).scheme not in ("redis", "rediss"):
    raise ImproperlyConfigured(f"REDIS_URL must be a redis:// URL, got {REDIS_URL!r}")

SEGMENT_TIME_LIMIT = env_int("RUNGS_SEGMENT_TIME_LIMIT", 3600, minimum=10)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": SEGMENT_TIME_LIMIT * 2
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis waits for a socket's next message with a blocking pop of up
            # to 5 s, and redis-py 8 gives up on any read after 5 s: an idle page's
            # socket lost that race and closed (1011) every 5 s. The read must outlast it.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": 1000,
                "expiry": 10,
            },
        }
    }
else:
    broker_dir = VAR_DIR / "broker"
    for sub in ("out", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    # kombu's filesystem transport with each message renamed into place whole (a reader
    # could take a message half written).
    CELERY_BROKER_TRANSPORT = "dashboard.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(broker_dir / "out"),
        "data_folder_out": str(broker_dir / "out"),
        "processed_folder": str(broker_dir / "processed"),
        "control_folder": str(broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env_bool("RUNGS_CELERY_EAGER", False)
# Celery's Django fixup would close the database connection around every task, so each
# segment paid a new PostgreSQL connection on the dispatch path. Workers keep it instead
# and check it before each task as Django does per request (sweeps.tasks); on PostgreSQL
# that check hands it back to the process's pool, which lends it again after its health check.
CELERY_DB_REUSE_MAX = 1000

# --- auth, static, security -----------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

SESSION_COOKIE_SECURE = env_bool("RUNGS_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("RUNGS_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("RUNGS_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# The largest request body (bytes) any page or API call reads; a spec is a few KB. Past it
# the API answers 413 (sweeps.api.middleware).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("RUNGS_MAX_BODY_BYTES", 2_621_440, minimum=1024)
# The largest message the live socket sends (dashboard.consumers splits or refuses any over
# it); daphne's own limit is set to match (`up`, and daphne's runserver reads this setting).
RUNGS_SOCKET_MAX_BYTES = env_int("RUNGS_SOCKET_MAX_BYTES", 1_000_000, minimum=65_536)
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = RUNGS_SOCKET_MAX_BYTES
# Debug pages hide DATABASE_URL / REDIS_URL and any password inside a URL (dashboard.debug).
DEFAULT_EXCEPTION_REPORTER_FILTER = "dashboard.debug.SecretsFilter"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rungs API",
    "DESCRIPTION": "Launch, watch and steer hyperparameter sweeps.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Named here, not by hash: a sweep's status shows in two components (Sweep, SweepCreated).
    "ENUM_NAME_OVERRIDES": {
        "SweepStatusEnum": "sweeps.enums.SweepStatus.CHOICES",
        "WorkerStateEnum": "sweeps.queries.workers.WORKER_STATES",
        # LR range tests and final evaluations: work a worker does once.
        "JobStatusEnum": "sweeps.models.LRRangeTest.STATUS_CHOICES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("RUNGS_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Rungs ----------------------------------------------------------------------------------

# The one place trainers beyond the built-ins are registered (see trainers/registry.py): a
# YAML file read by `up`, `launch`, the web and every worker; never from user input.
RUNGS_TRAINERS_FILE = Path(
    env_str("RUNGS_TRAINERS_FILE", str(BASE_DIR / "trainers.yaml"))
).resolve()
RUNGS_TRAINERS: dict[str, object] = {}  # entries added to the file's (tests set these)
# Console output kept per segment of a script trainer (the last this many characters).
RUNGS_LOG_CHARS = env_int("RUNGS_LOG_CHARS", 200_000, minimum=1000)
RUNGS_DEMO_SWEEP = env_bool("RUNGS_DEMO_SWEEP", True)  # `up --demo` starts one on an empty site
RUNGS_GRID_CAP = env_int("RUNGS_GRID_CAP", 10_000, minimum=1)
RUNGS_CHECKPOINT_DIR = Path(env_str("RUNGS_CHECKPOINT_DIR", str(VAR_DIR / "checkpoints"))).resolve()
RUNGS_HEARTBEAT_SECONDS = env_float("RUNGS_HEARTBEAT_SECONDS", 5.0, minimum=0.1)
RUNGS_LEASE_SECONDS = env_float("RUNGS_LEASE_SECONDS", 30.0, minimum=1.0)
# Checkpoints kept once trials finish: "best" (the best trial's), "all" or "none".
RUNGS_KEEP_CHECKPOINTS = env_str("RUNGS_KEEP_CHECKPOINTS", "best")
if RUNGS_KEEP_CHECKPOINTS not in ("best", "all", "none"):
    raise ImproperlyConfigured(
        f"RUNGS_KEEP_CHECKPOINTS must be best, all or none, got {RUNGS_KEEP_CHECKPOINTS!r}"
    )
# Metric points reach the database (and live pages) at least this often.
RUNGS_METRIC_FLUSH_SECONDS = env_float("RUNGS_METRIC_FLUSH_SECONDS", 0.02 if REDIS_URL else 0.1)
# How often a trainer asks whether it was killed or paused.
RUNGS_DECISION_SECONDS = env_float("RUNGS_DECISION_SECONDS", 0.2)
# Tries of one segment (a lost worker, a crash) before its trial fails; each rung has its own.
# A queued segment no worker claimed within a lease is sent again.
RUNGS_MAX_ATTEMPTS = env_int("RUNGS_MAX_ATTEMPTS", 3, minimum=1)
# Seconds `up` gives its children to stop (workers checkpoint and release their segments).
RUNGS_STOP_GRACE_SECONDS = env_float("RUNGS_STOP_GRACE_SECONDS", 20.0, minimum=1.0)
# Segments go to this Celery queue: "celery" (any worker) or "gpu" (GPU workers only).
RUNGS_SEGMENT_QUEUE = env_str("RUNGS_SEGMENT_QUEUE", "celery")
