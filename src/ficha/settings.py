"""Django settings for Ficha.

Every setting comes from a ``FICHA_*`` environment variable with a zero-config default:
without any variable, Ficha keeps a SQLite database, its secret key and uploads in
``./ficha-data`` (see docs/configuration.md for the full list).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"FICHA_{name}", default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(f"FICHA_{name}")
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(env("DATA_DIR", "ficha-data")).expanduser().resolve()
# The data directory 0700 and every file in it 0600, now and for everything created later
# (process umask 077): see ficha/core/files.py and docs/security.md, "Files on disk".
from ficha.core import files as _files  # noqa: E402
from ficha.core.files import DIR_MODE, FILE_MODE, secure_data_dir  # noqa: E402

# Printing help (`ficha COMMAND --help`) loads these settings too but must leave no trace:
# then nothing here creates a directory or a file (ficha.cli sets files.HELP_ONLY).
_CREATE = not _files.HELP_ONLY
if _CREATE:
    secure_data_dir(DATA_DIR)
FILE_UPLOAD_PERMISSIONS = FILE_MODE
FILE_UPLOAD_DIRECTORY_PERMISSIONS = DIR_MODE


def _secret_key() -> str:
    given = env("SECRET_KEY")
    if given:
        return given
    if not _CREATE:
        return secrets.token_urlsafe(50)  # help only: signs nothing, written nowhere
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Written once, read on every later start: sessions survive restarts.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
HTTP_ADDR = env("HTTP_ADDR", "127.0.0.1:8000")
# Public base URL used in printed QR codes (the portal's recharge page).
PUBLIC_URL = env("PUBLIC_URL", "").rstrip("/")
# Host names: Django lets every name through and ficha.core.security.HostMiddleware decides
# (localhost, this machine's names and addresses, FICHA_PUBLIC_URL, the venue's public
# address set in the console — live — and FICHA_ALLOWED_HOSTS); any other Host gets a 400.
ALLOWED_HOSTS = ["*"]
EXTRA_ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [h.strip() for h in env("CSRF_TRUSTED_ORIGINS", "").split(",") if h.strip()]
if PUBLIC_URL.startswith(("http://", "https://")):
    CSRF_TRUSTED_ORIGINS.append("/".join(PUBLIC_URL.split("/")[:3]))
# Number of reverse proxies in front of Ficha whose X-Forwarded-For we trust (0: none).
TRUSTED_PROXIES = int(env("TRUSTED_PROXIES", "0") or 0)
# Login lock-out model and flood alarm (docs/security.md).
FICHA_LOGIN_DAILY_CAP = int(env("LOGIN_DAILY_CAP", "30") or 30)
FICHA_PIN_CAP = int(env("PIN_CAP", "10") or 10)
FICHA_FLOOD_REFUSED_PER_MINUTE = int(env("FLOOD_REFUSED_PER_MINUTE", "60") or 60)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # serves the API docs page's bundled Swagger UI (no CDN)
    "ficha.core",
    "ficha.ledger",
    "ficha.accounts",
    "ficha.recharges",
    "ficha.tariffs",
    "ficha.hotspot",
    "ficha.callshop",
    "ficha.stations",
    "ficha.reports",
    "ficha.printing",
    "ficha.console",
    "ficha.portal",
    "ficha.api",
    "ficha.cli",
]

MIDDLEWARE = [
    # first: refuses an over-large body or too many fields before anything reads them
    "ficha.core.middleware.RequestLimitsMiddleware",
    "ficha.core.security.HostMiddleware",
    # API requests with an Authorization header skip the cookie-session middleware below
    "ficha.core.middleware.TokenApiMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "ficha.core.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "ficha.accounts.middleware.StaffSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ficha.core.middleware.ClientIPMiddleware",
]

ROOT_URLCONF = "ficha.urls"
WSGI_APPLICATION = "ficha.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ficha.core.context_processors.venue",
            ],
        },
    }
]


def _database() -> dict:
    url = env("DATABASE_URL")
    if url:
        import dj_database_url

        db = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        if db["ENGINE"] == "django.db.backends.postgresql":
            db.setdefault("OPTIONS", {})
        return db
    if _CREATE:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    return {
        # Django's SQLite backend with writers queued first come, first served, across
        # threads and processes (never "database is locked" under load): core/db/sqlite.
        "ENGINE": "ficha.core.db.sqlite",
        "NAME": str(DATA_DIR / "ficha.sqlite3"),
        "OPTIONS": {
            # Writers take the lock at BEGIN, so two writers never deadlock on upgrade.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=30000;"
            ),
        },
    }


DATABASES = {"default": _database()}
# PostgreSQL: the hot written-out statements are prepared once per connection
# (ficha.core.db.prepared); off for a pooler in transaction mode that cannot keep them.
DATABASE_PREPARE = env_bool("DATABASE_PREPARE", True)
# PostgreSQL: the RADIUS accounting batch runs as one pipelined transaction (two round
# trips; ficha.core.db.pipeline); off for a pooler that cannot take pipelines.
DATABASE_PIPELINE = env_bool("DATABASE_PIPELINE", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:dashboard"

# Languages the console ships complete catalogs for.
LANGUAGES = [
    ("en", _("English")),
    ("fr", _("French")),
    ("es", _("Spanish")),
    ("it", _("Italian")),
    ("pt", _("Portuguese")),
    ("de", _("German")),
]
LANGUAGE_CODE = env("LANGUAGE", "en")
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates follow the venue's date format (Settings) in every language: ficha/core/dates.py.
FORMAT_MODULE_PATH = "ficha.core.formats"
USE_I18N = True
USE_TZ = True
TIME_ZONE = env("TIME_ZONE", "UTC")

# The venue: what customers and receipts see. Editable in the console's settings page;
# these are the defaults used until the owner saves there.
VENUE_NAME = env("VENUE_NAME", "Ficha")
CURRENCY = env("CURRENCY", "XOF").upper()

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
if _CREATE:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = DATA_DIR / "uploads"
MEDIA_URL = "/media/"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "ficha.core.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Scripts and styles only from this server's own files: no inline <script>, no on*=
# handlers, no eval (htmx is configured not to inject its indicator <style>).
CONTENT_SECURITY_POLICY = env(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'",
)
# HTTPS (docs/configuration.md, "HTTPS"): FICHA_HTTPS=1 when customers and staff reach Ficha
# over https:// (directly or through a TLS proxy).
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("HTTPS_REDIRECT", True)
    # /healthz stays reachable over plain HTTP on the machine itself (`ficha serve` polls it).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = int(env("HSTS_SECONDS", "31536000") or 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", False)
# "X-Forwarded-Proto: https": the header (and value) by which the TLS proxy in front says the
# request came over HTTPS. Only set it when such a proxy exists and strips the header from
# clients, or anyone could claim HTTPS.
_proxy_ssl = env("PROXY_SSL_HEADER")
if _proxy_ssl:
    _name, _, _value = _proxy_ssl.partition(":")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"),
                               _value.strip() or "https")

# RADIUS server for hotspot gateways (`ficha radiusd`, also started by `ficha serve`):
# host:port of the authentication and accounting sockets; "off" disables one.
RADIUS_AUTH_ADDR = env("RADIUS_AUTH_ADDR", "0.0.0.0:1812")
RADIUS_ACCT_ADDR = env("RADIUS_ACCT_ADDR", "0.0.0.0:1813")
# CoA/Disconnect (RFC 5176) to gateways: seconds to wait for an answer per attempt, and
# whether a kick or a top-up is sent at once (else the worker sends it on its next run).
HOTSPOT_COA_TIMEOUT = float(env("HOTSPOT_COA_TIMEOUT", "3") or 3)
HOTSPOT_COA_SEND_NOW = env_bool("HOTSPOT_COA_SEND_NOW", True)

# The café station agents' link (`ficha stationd`, also started by `ficha serve`): host:port
# of the WebSocket door ("off" disables it); a certificate (and key) turns on TLS (wss).
STATION_ADDR = env("STATION_ADDR", "0.0.0.0:8765")
STATION_TLS_CERT = env("STATION_TLS_CERT", "")
STATION_TLS_KEY = env("STATION_TLS_KEY", "")
# The café's hourly price (minor units) while no tariff exists in the tariffs app.
FICHA_CAFE_PRICE_PER_HOUR = int(env("CAFE_PRICE_PER_HOUR", "100") or 100)

# How often the worker runs its periodic jobs (seconds).
WORKER_INTERVAL = int(env("WORKER_INTERVAL", "30") or 30)

# --- The web door (`ficha web`, `ficha serve`): see docs/configuration.md ------------------
def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = env(name).strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"FICHA_{name} must be a whole number, not {raw!r}")
    if value < minimum:
        raise ImproperlyConfigured(f"FICHA_{name} must be at least {minimum}, not {value}")
    return value


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # Windows, macOS
        return os.cpu_count() or 1


# Web worker processes (one per core by default) and Django threads in each: one thread per
# process keeps Python's GIL uncontended (bench web.servers: p99 3-5x lower than 4 threads).
WEB_WORKERS = env_int("WEB_WORKERS", 0) or _cores()
WEB_THREADS = env_int("WEB_THREADS", 1, minimum=1)
# `ficha radiusd` processes sharing the RADIUS ports (SO_REUSEPORT): one per core on
# PostgreSQL, each with one worker thread per kind of packet (bench radius.servers on 2
# cores: 2 processes x 1 thread 7,000-7,800 accepts/s and 3,500-4,700 interims/s; 1 x 4
# threads 5,000 and 2,400, as threads contend for the GIL and split the batches); on
# SQLite one process keeps every write (more is refused there).
RADIUS_WORKERS = env_int("RADIUS_WORKERS", 0) or (
    1 if DATABASES["default"]["ENGINE"] == "ficha.core.db.sqlite" else _cores())
# How long a busy RADIUS reader waits for more packets to handle them in one batch
# (microseconds; 0: never waits; an idle one never waits). See hotspot.radius._Reader.
RADIUS_GATHER_MICROSECONDS = env_int("RADIUS_GATHER_MICROSECONDS", 1000, minimum=0)
# Request bodies larger than this are refused (413) before they are read; paths that take
# uploads ask for more with ficha.core.middleware.allow_body().
MAX_BODY_MB = env_int("MAX_BODY_MB", 4, minimum=1)
MAX_BODY_BYTES = MAX_BODY_MB * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# More query-string or form fields than this: 400 with a message (never a 500).
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
# ------------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Call shop: minutes after a prepaid call's latest possible end (authorization or answer +
# granted talk time) before the worker marks it lost and releases its credit hold.
CALLSHOP_LOST_CALL_MINUTES = max(1, int(env("CALLSHOP_LOST_CALL_MINUTES", "15") or 15))
