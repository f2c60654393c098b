"""trackerdash settings: the only settings file, every value read from the environment.

With no environment at all the project runs on SQLite and Django's local-memory cache
(the embedded default). `DATABASE_URL` and `REDIS_URL` switch it to PostgreSQL and Redis.
`.env.example` lists every variable with a comment.
"""

import importlib.util
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from corsheaders.defaults import default_headers as corsheaders_default_headers
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

INSECURE_SECRET_KEY = "django-insecure-trackerdash-embedded-default"

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default=INSECURE_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if not DEBUG:
    # A production process must not start on the embedded defaults.
    if SECRET_KEY == INSECURE_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("DEBUG is off: set SECRET_KEY to a random string of 32+ characters.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS (comma-separated host names).")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",  # failed-login lockout (docs/hardening.md)
    "csp",
    "django_filters",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served locally: /api/docs/ works offline
    "cache_layer",
    "dashboard",
    "bench",  # `manage.py bench` (the harness lives outside the domain app)
    "trackerdash.apps.TrackerdashConfig",
]

MIDDLEWARE = [
    "trackerdash.monitoring.RequestMetricsMiddleware",  # first: times everything below
    # gzip JSON answers (outermost but the metrics: it sees each body last); never streams.
    "trackerdash.compression.JsonCompressionMiddleware",
    # Before anything that can answer by itself (redirects, whitenoise, CommonMiddleware): a
    # preflight is answered here, without authentication, and every answer gets its CORS headers.
    "corsheaders.middleware.CorsMiddleware",  # outside ApiErrors: its 413/503 carry CORS headers too
    "dashboard.api_errors.ApiErrorsMiddleware",  # JSON 413/503 under /api/ (its docstring)
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its 429 response
]

ROOT_URLCONF = "trackerdash.urls"
WSGI_APPLICATION = "trackerdash.wsgi.application"

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

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES:
    # psycopg 3 (Django picks it when installed); keep connections between requests.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    # Under ASGI, Django runs each request's sync code in a thread of its own, so a persistent
    # connection per thread leaks one connection per request (until PostgreSQL refuses clients).
    # DB_POOL=true (gunicorn.conf.py and `manage.py serve` set it) keeps a bounded pool per process
    # instead; connections go back to it at the end of each request.
    if env.bool("DB_POOL", default=False):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": env.int("DB_POOL_MAX_SIZE", default=8),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10),
        }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # `make run` writes from two threads (the server and the fleet simulator): WAL lets readers
    # read during a write, IMMEDIATE takes the write lock at BEGIN (no deadlocked upgrade), and a
    # writer waits up to 20 s for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", transaction_mode="IMMEDIATE", timeout=20
    )

FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6's default, adopted now
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CACHE_KEY_PREFIX = env("CACHE_KEY_PREFIX", default="trackerdash")
# Short socket timeouts: a slow or absent Redis costs a request at most this long before
# cache_layer answers from the database (and its circuit breaker stops paying it).
CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=0.25)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "TIMEOUT": None,
            "OPTIONS": {
                # redis-py uses the hiredis parser whenever the hiredis package is installed.
                "SOCKET_CONNECT_TIMEOUT": CACHE_SOCKET_TIMEOUT,
                "SOCKET_TIMEOUT": CACHE_SOCKET_TIMEOUT,
                "CONNECTION_POOL_KWARGS": {"retry_on_timeout": False, "health_check_interval": 30},
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "trackerdash",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "TIMEOUT": None,
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Feature flags and tuning (DESIGN.md "Runtime") ----------------------------------
CACHE_ENABLED = env.bool("CACHE_ENABLED", default=True)
QUERY_CACHE_ENABLED = env.bool("QUERY_CACHE_ENABLED", default=True)
LAZY_MODE_ENABLED = env.bool("LAZY_MODE_ENABLED", default=True)
CACHE_DEBOUNCE_SECONDS = env.float("CACHE_DEBOUNCE_SECONDS", default=2.0)
TRACKER_QUERY_CACHE_TTL = env.int("TRACKER_QUERY_CACHE_TTL", default=300)
# Larger answers (as stored) are not cached: 1 MiB holds a 1,000-tracker page; 0 = no bound.
QUERY_CACHE_MAX_ENTRY_BYTES = env.int("QUERY_CACHE_MAX_ENTRY_BYTES", default=1_048_576)
LAZY_MODE_THRESHOLD = env.int("LAZY_MODE_THRESHOLD", default=500)
# What needs attention (GET /api/attention/, the page's chips): a battery at or below this percent,
# and no report for at least this many hours (docs/api.md "Attention").
LOW_BATTERY_PERCENT = env.int("LOW_BATTERY_PERCENT", default=20)
if not 0 <= LOW_BATTERY_PERCENT <= 100:
    raise ImproperlyConfigured("LOW_BATTERY_PERCENT must be a whole percent from 0 to 100.")
SILENT_AFTER_HOURS = env.int("SILENT_AFTER_HOURS", default=24)
if not 1 <= SILENT_AFTER_HOURS <= 876_000:
    raise ImproperlyConfigured("SILENT_AFTER_HOURS must be a whole number of hours from 1 to 876000 (100 years).")
# Days of location history kept: 0 = forever; else `manage.py maintain_history` drops each month
# wholly older, and ingest refuses reports older (REPORT_MAX_AGE_DAYS below bounds them too).
HISTORY_RETENTION_DAYS = env.int("HISTORY_RETENTION_DAYS", default=0)
if HISTORY_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("HISTORY_RETENTION_DAYS must be 0 (keep forever) or a number of days.")
MAP_TILE_URL = env("MAP_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
# gzip for JSON answers of at least COMPRESS_MIN_BYTES to clients that accept it; the query cache
# stores such bodies compressed once (trackerdash/compression.py). false = every answer plain.
COMPRESS_RESPONSES = env.bool("COMPRESS_RESPONSES", default=True)
COMPRESS_MIN_BYTES = 1024

# Live stream (GET /api/trackers/stream/, README "Live stream"). LIVE_STREAM_ENABLED=false is its
# rollback switch: the stream answers 503 and the page stays a snapshot.
LIVE_STREAM_ENABLED = env.bool("LIVE_STREAM_ENABLED", default=True)
LIVE_REPLAY_SECONDS = env.float("LIVE_REPLAY_SECONDS", default=600)  # Last-Event-ID older than this: resync
LIVE_HEARTBEAT_SECONDS = env.float("LIVE_HEARTBEAT_SECONDS", default=15)
LIVE_RETRY_MILLISECONDS = env.int("LIVE_RETRY_MILLISECONDS", default=3000)
LIVE_AUTH_RECHECK_SECONDS = env.float("LIVE_AUTH_RECHECK_SECONDS", default=30)
LIVE_BATCH_SECONDS = env.float("LIVE_BATCH_SECONDS", default=0.02)
LIVE_QUEUE_SIZE = env.int("LIVE_QUEUE_SIZE", default=256)
LIVE_OPEN_TIMEOUT_SECONDS = 2.0  # a stream opened while the feed is away starts without a cursor
# Fleet simulator beside `make run` (manage.py simulate_fleet).
SIMULATE_FLEET = env.bool("SIMULATE_FLEET", default=True)
SIMULATE_FLEET_RATE = env.float("SIMULATE_FLEET_RATE", default=5.0)

# The reusable cache_layer app reads one namespaced dict (cache_layer/conf.py has defaults).
CACHE_LAYER = {
    "ENABLED": CACHE_ENABLED,
    "CACHE_ALIAS": "default",
    "DEBOUNCE_SECONDS": CACHE_DEBOUNCE_SECONDS,
    "QUERY_CACHE_ENABLED": QUERY_CACHE_ENABLED,
    "QUERY_CACHE_TTL": TRACKER_QUERY_CACHE_TTL,
    "FEED_REPLAY_SECONDS": LIVE_REPLAY_SECONDS,
    "QUERY_CACHE_COMPRESS": COMPRESS_RESPONSES,
    "QUERY_CACHE_COMPRESS_MIN_BYTES": COMPRESS_MIN_BYTES,
    "QUERY_CACHE_MAX_ENTRY_BYTES": QUERY_CACHE_MAX_ENTRY_BYTES,
}

# --- Auth, sessions, REST ------------------------------------------------------------
# axes first: it refuses a locked-out username or address before any password is checked.
# The user comes with their profile (their scope): no query of its own for it.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "dashboard.authentication.ProfileModelBackend"]
# Sessions read from the cache (no SQL), the database behind it: Django's cached_db through
# cache_layer.store, so a Redis outage falls back to the database instead of failing the request.
SESSION_ENGINE = "cache_layer.sessions"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "dashboard.authentication.ProfileTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # orjson: nesting, surrogates and NaN are a 400, never a RecursionError (dashboard/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["dashboard.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "dashboard.schema.AutoSchema",  # documents every error answer
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": None,  # set below from TRUSTED_PROXY_COUNT
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "trackerdash API",
    "DESCRIPTION": "GPS tracker fleet dashboard: reference data, trackers with their latest location, ingest.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response bodies as separate components: a generated client then has no
    # read-only field to fill in a request, and non-blank strings carry minLength 1.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"TrackerStatusEnum": "dashboard.models.TrackerStatus"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The default hook (enum components), then the live stream: a plain async view the generator can't see.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "dashboard.stream.document_in_schema"],
}

# --- Single-page apps on other origins (docs/api.md "From another origin") ---------
# Exact origins (scheme://host[:port]) whose scripts may call /api/; empty = same origin only.
# corsheaders' system checks refuse a malformed origin at start.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# true: those origins may send cookies (a session-based SPA); a token-based SPA needs no credentials.
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=False)
CORS_URLS_REGEX = r"^/api/"
# The defaults (Authorization, Content-Type, X-CSRFToken, ...) plus the stream's reconnect
# cursor and the conditional-request header an SPA sends when it revalidates a list.
CORS_ALLOW_HEADERS = (*corsheaders_default_headers, "last-event-id", "if-none-match")
# Response headers a script on another origin may read (the CORS-safelisted ones aside).
CORS_EXPOSE_HEADERS = ["ETag", "Retry-After", "Content-Disposition"]
# The SPA's script reads the CSRF cookie to send X-CSRFToken: with the SPA on a sibling host
# (app.example.com beside api.example.com) the cookie must be set for the parent domain.
CSRF_COOKIE_DOMAIN = env("CSRF_COOKIE_DOMAIN", default=None) or None

# --- Hardening: body size, report age, throttling (docs/hardening.md) ------------------
# The ingest takes 10,000 rows; one row is ~150 bytes typically and ~800 at most (64-character
# serial, 200-character city, full-precision numbers): 8 MiB holds a full batch of the largest.
# Over it: 413 JSON under /api/.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=8 * 1024 * 1024)
# Reports older than this many days are refused as bad rows (DESIGN.md "Runtime").
REPORT_MAX_AGE_DAYS = env.int("REPORT_MAX_AGE_DAYS", default=366)
if REPORT_MAX_AGE_DAYS < 1:
    raise ImproperlyConfigured("REPORT_MAX_AGE_DAYS must be a whole number of days, at least 1.")

# Proxies in front of Django that append to X-Forwarded-For (0: use REMOTE_ADDR, never the header).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT
# django-axes: failed logins per username and per client address on the login form, the admin
# and the token endpoint; after LOGIN_FAILURE_LIMIT of either, 429 for LOGIN_LOCKOUT_SECONDS.
LOGIN_THROTTLE_ENABLED = env.bool("LOGIN_THROTTLE_ENABLED", default=True)
AXES_ENABLED = LOGIN_THROTTLE_ENABLED
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("LOGIN_LOCKOUT_SECONDS", default=900))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one alone locks out
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "dashboard.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "dashboard.throttling.lockout_response"
AXES_VERBOSE = False
# The page's telemetry beacon (sent at most every 2 s while the page is busy), per session.
TELEMETRY_BEACONS_PER_MINUTE = env.int("TELEMETRY_BEACONS_PER_MINUTE", default=60)

# Content-Security-Policy (django-csp; Django 5.2 has none of its own): scripts only from this
# site, plus the page's inline import map by its per-request nonce; no inline handlers or styles.
def _tile_origin(template: str) -> list[str]:
    """The map tiles' origin for img-src (`{s}` subdomains as a wildcard); none without tiles."""
    parts = urlsplit(template)
    return [f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"] if parts.scheme and parts.netloc else []


CSP_ENABLED = env.bool("CSP_ENABLED", default=True)
CONTENT_SECURITY_POLICY = {
    # Swagger UI's page bootstraps with an inline script of drf-spectacular's: left without a policy.
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *_tile_origin(MAP_TILE_URL)],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
if not CSP_ENABLED:
    MIDDLEWARE.remove("csp.middleware.CSPMiddleware")

# --- i18n, static --------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Leaflet's own files come from the django-leaflet package (served as static/leaflet/...).
# The package is not an installed app: its admin module needs GDAL, which we don't use.
STATICFILES_DIRS = [Path(importlib.util.find_spec("leaflet").submodule_search_locations[0]) / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security when DEBUG is off -------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Load balancers and Prometheus probe these over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]

# --- Logging -------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Operations: metrics, health, logs (docs/operations.md) -----------------------------
# /metrics answers localhost and `Authorization: Bearer <METRICS_TOKEN>`; empty = localhost only.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
CACHE_HIT_RATE_WINDOW_SECONDS = env.float("CACHE_HIT_RATE_WINDOW_SECONDS", default=300)
LISTENER_STALE_SECONDS = env.float("LISTENER_STALE_SECONDS", default=30)
HEALTH_DB_TIMEOUT = env.int("HEALTH_DB_TIMEOUT", default=2)
# A web worker's resident memory above this fires WorkerMemoryHigh (exported as a gauge, so the
# alert rule needs no edit per deployment). gunicorn's max_requests recycling stays the first defence.
WORKER_MEMORY_ALERT_BYTES = env.int("WORKER_MEMORY_ALERT_BYTES", default=512 * 2**20)
# The rollback switches reach cache_layer through its one settings dict (docs/operations.md "Rollback").
CACHE_LAYER["LISTENER_HEARTBEAT_STALE_SECONDS"] = LISTENER_STALE_SECONDS
# Multi-process metrics (gunicorn): every process of this host writes its samples there.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
LOG_FORMAT = env("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")
LOGGING["formatters"]["json"] = {"()": "trackerdash.log_format.JsonFormatter"}
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
