"""Settings, all read from the environment; with nothing set they run a local, embedded platform."""

import os
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=True)
_INSECURE_KEY = "django-insecure-local-development-key-change-me"
SECRET_KEY = env("DJANGO_SECRET_KEY", default=_INSECURE_KEY)
# Entries are stripped and empty ones dropped: "a.com, b.com" must allow b.com, and " , " is no host at all.
ALLOWED_HOSTS = [
    host.strip()
    for host in env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
    if host.strip()
]
CSRF_TRUSTED_ORIGINS = [
    origin.strip() for origin in env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[]) if origin.strip()
]

if not DEBUG:
    # Production refuses to start with an unsafe configuration.
    if SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set to a random value of 50+ characters when DJANGO_DEBUG=false"
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG=false")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "allauth",
    "allauth.account",
    "accounts",
    "streams",
    "payments",
    "chat",
    "analytics",
]

MIDDLEWARE = [
    # First, so it times everything below and sees every response (livestream_site/metrics.py).
    "livestream_site.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

# Every API path answers with and without a trailing slash; never redirect a POST.
APPEND_SLASH = False

ROOT_URLCONF = "livestream_site.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "livestream_site.asgi.application"
AUTH_USER_MODEL = "accounts.User"

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

# --- Data stores ------------------------------------------------------------------------------
SQLITE_PATH = env("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3"))
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Concurrent writers (nginx's callbacks arrive together) wait for the lock instead of failing
    # with "database is locked" when a read transaction upgrades to a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})

REDIS_URL = env("REDIS_URL", default="")
# Web processes of `make run` (livestream_site/web.py): with Redis, one per core behind nginx; without it,
# one (rooms, viewer counts and rate limits are then in-process and cannot be shared).
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=(os.cpu_count() or 1) if REDIS_URL else 1)
if WEB_CONCURRENCY < 1 or (WEB_CONCURRENCY > 1 and not REDIS_URL):
    raise ImproperlyConfigured("WEB_CONCURRENCY above 1 needs REDIS_URL (processes share rooms through Redis).")
# Set by livestream_site/web.py for each web process it starts behind nginx (0, 1, ...); unset otherwise.
WEB_PROCESS_INDEX = env.int("WEB_PROCESS_INDEX", default=None)
# The cyclic garbage collector's thresholds in a web process (livestream_site/serving.py gc_tune): three
# integers, or empty for Python's own (700,10,10). Every socket keeps a few hundred objects; with
# Python's, the collector walks them over and over in a join storm.
_gc_thresholds = env("WEB_GC_THRESHOLDS", default="50000,20,100")
try:
    WEB_GC_THRESHOLDS = tuple(int(value) for value in _gc_thresholds.split(",")) if _gc_thresholds.strip() else ()
except ValueError:
    WEB_GC_THRESHOLDS = None
if WEB_GC_THRESHOLDS is None or (WEB_GC_THRESHOLDS and (len(WEB_GC_THRESHOLDS) != 3 or min(WEB_GC_THRESHOLDS) < 1)):
    raise ImproperlyConfigured("WEB_GC_THRESHOLDS must be three positive integers (e.g. 50000,20,100) or empty.")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task taken by a worker that dies (acks late) goes back to the queue after this long with the Redis
# broker: longer than the longest task (recording finalization), or a running task would run twice.
# The workers look for such tasks every CELERY_UNACKED_RESTORE_SECONDS (kombu's default is every 100 s).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3600),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_SECONDS", default=10),
    "unacked_restore_throttle": 1,
}
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
# Every periodic task of the platform, declared here and nowhere else (run by the worker's beat, `-B`).
CELERY_BEAT_SCHEDULE: dict = {
    "payments-release-lapsed-seat-holds": {"task": "payments.tasks.payment_holds_release_task", "schedule": 60.0},
    # The media plane's safety net for a lost on_publish_done (streams.media.services.ingest_reconcile).
    "streams-ingest-reconcile": {"task": "streams.media.tasks.ingest_reconcile", "schedule": 60.0},
    # Streams a managed media system has no resource for yet (streams.media.services.media_reconcile).
    "streams-media-reconcile": {"task": "streams.media.tasks.media_reconcile", "schedule": 300.0},
    # A media system without callbacks (Wowza) is asked about live streams and open publishing windows.
    "streams-media-poll": {"task": "streams.media.tasks.media_poll", "schedule": 10.0},
    # The per-minute audience rollups of live streams, re-rolling the late window (analytics.rollups).
    "analytics-rollup-recent": {"task": "analytics.rollup_tasks.analytics_rollup_recent", "schedule": 60.0},
    # The batch writer of the analytics buffer, and the expiry of silent viewer sessions (a run not
    # started in time expires: the next one does the same work, so a busy worker gets no pile-up).
    "analytics-events-write": {
        "task": "analytics.tasks.analytics_events_write",
        "schedule": 2.0,
        "options": {"expires": 10.0},
    },
    "analytics-sessions-expire": {
        "task": "analytics.tasks.analytics_sessions_expire",
        "schedule": 60.0,
        "options": {"expires": 50.0},
    },
    # Viewers on other players, from the media server's HLS access log (analytics.hls_log), every
    # ANALYTICS_HLS_LOG_SECONDS.
    "analytics-hls-log-fold": {
        "task": "analytics.hls_log_tasks.hls_log_fold_task",
        "schedule": env.float("ANALYTICS_HLS_LOG_SECONDS", default=30.0),
    },
    # Ingest and transcoder of every live stream, and the per-stream alerts (analytics/monitoring.py).
    "analytics-ingest-sample": {
        "task": "analytics.monitoring_tasks.ingest_sample_task",
        "schedule": env.float("ANALYTICS_INGEST_SAMPLE_SECONDS", default=10.0),
    },
    # Followers' reminders of shows starting within FOLLOWER_REMINDER_MINUTES (streams/notifications.py).
    "streams-follower-reminders": {
        "task": "streams.tasks.stream_reminders_send_task",
        "schedule": 60.0,
        "options": {"expires": 50.0},
    },
}

# --- Auth -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ALLOW_ARTIST_SIGNUP = env.bool("ALLOW_ARTIST_SIGNUP", default=True)
# Sign-in and sign-up throttles (accounts/throttles.py), per window of AUTH_THROTTLE_WINDOW_SECONDS.
AUTH_THROTTLE_WINDOW_SECONDS = env.int("AUTH_THROTTLE_WINDOW_SECONDS", default=900)
AUTH_THROTTLE_ACCOUNT_FAILURES = env.int("AUTH_THROTTLE_ACCOUNT_FAILURES", default=10)
AUTH_THROTTLE_ADDRESS_ATTEMPTS = env.int("AUTH_THROTTLE_ADDRESS_ATTEMPTS", default=60)
AUTH_THROTTLE_SIGNUPS_PER_ADDRESS = env.int("AUTH_THROTTLE_SIGNUPS_PER_ADDRESS", default=20)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# The pages' accounts (django-allauth): sign in with the username (the API's token endpoint takes it too, and
# the per-account throttle counts one name per account); an e-mail address is required at sign-up, for
# password resets and follower e-mails, and is verified by a link (optional: signing in does not wait for it).
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True
# Changing the e-mail (which receives password resets) asks for the password again unless the user signed in
# within the last ACCOUNT_REAUTHENTICATION_TIMEOUT seconds (allauth's default: 300).
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Livestage] "
# Sign-in and sign-up are throttled by accounts/throttles.py (audit F9: 429 with Retry-After, by account and
# by address, shared with the API); allauth's own limits stay on for the rest (password resets, e-mails).
ACCOUNT_RATE_LIMITS = {"login": None, "login_failed": None, "signup": None}

# --- E-mail -----------------------------------------------------------------------------------
# EMAIL_URL: smtp+tls://user:password@host:587 (or smtp://, smtp+ssl://); unset prints every e-mail on the
# console (the embedded default). Tests read Django's test outbox.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Livestage <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where people reach the platform: the links of e-mails sent outside a request (follower notifications,
# ticket receipts).
SITE_URL = env("SITE_URL", default=f"http://127.0.0.1:{env('PORT', default='8000')}").rstrip("/")
# Followers of an artist are reminded this many minutes before a show starts (streams/notifications.py).
FOLLOWER_REMINDER_MINUTES = env.int("FOLLOWER_REMINDER_MINUTES", default=30)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_RENDERER_CLASSES": [
        "livestream_site.renderers.CamelCaseJSONRenderer",
        "djangorestframework_camel_case.render.CamelCaseBrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "livestream_site.parsers.JSONParser",
        "djangorestframework_camel_case.parser.CamelCaseFormParser",
        "djangorestframework_camel_case.parser.CamelCaseMultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "livestream_site.api.Pagination",
    "EXCEPTION_HANDLER": "livestream_site.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "livestream_site.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Live streaming platform API",
    "DESCRIPTION": "Live concerts, studio sessions and artist interactions: streams, tickets, chat, analytics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from the pip-installed sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "CAMELIZE_NAMES": True,
    "ENUM_NAME_OVERRIDES": {"QualityEnum": "streams.models.LiveStream.Quality"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "drf_spectacular.contrib.djangorestframework_camel_case.camelize_serializer_fields",
    ],
}

# --- Streams ----------------------------------------------------------------------------------
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY", default="usd").lower()
STREAMING_BASE_URL = env("STREAMING_BASE_URL", default="http://127.0.0.1:8080")

# --- Payments (Stripe) ------------------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Seconds a webhook signature stays valid (Stripe's own default is 300).
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
# Empty means Stripe itself; tests point it at a local Stripe-compatible double.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
PLATFORM_FEE_PERCENT = Decimal(env("PLATFORM_FEE_PERCENT", default="10"))
PAYMENT_HOLD_SECONDS = env.int("PAYMENT_HOLD_SECONDS", default=600)
# The local development checkout (purchases without Stripe) exists only with DEBUG on and no Stripe key;
# it is derived, never read from the environment, so production cannot switch it on.
PAYMENTS_DEV_CHECKOUT = DEBUG and not STRIPE_SECRET_KEY
if not DEBUG and STRIPE_SECRET_KEY and not STRIPE_WEBHOOK_SECRET:
    raise ImproperlyConfigured("STRIPE_WEBHOOK_SECRET must be set when STRIPE_SECRET_KEY is set and DJANGO_DEBUG=false")
if not 0 <= PLATFORM_FEE_PERCENT <= 100:
    raise ImproperlyConfigured("PLATFORM_FEE_PERCENT must be between 0 and 100")

# --- Real-time (WebSocket chat and viewer counts) --------------------------------------------
CHAT_RATE_LIMIT_MESSAGES = env.int("CHAT_RATE_LIMIT_MESSAGES", default=5)
CHAT_RATE_LIMIT_SECONDS = env.float("CHAT_RATE_LIMIT_SECONDS", default=10.0)
WS_EVENT_RATE_LIMIT = env.int("WS_EVENT_RATE_LIMIT", default=30)
WS_EVENT_RATE_SECONDS = env.float("WS_EVENT_RATE_SECONDS", default=10.0)
WS_FLOOD_LIMIT = env.int("WS_FLOOD_LIMIT", default=100)
WS_MAX_FRAME_BYTES = env.int("WS_MAX_FRAME_BYTES", default=16384)
WS_ALLOWED_ORIGINS = env.list("WS_ALLOWED_ORIGINS", default=[])
# Anonymous WebSocket connections one client address may hold open on one web process.
WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS = env.int("WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS", default=20)
VIEWER_TTL_SECONDS = env.float("VIEWER_TTL_SECONDS", default=30.0)
VIEWER_HEARTBEAT_SECONDS = env.float("VIEWER_HEARTBEAT_SECONDS", default=10.0)
VIEWER_COUNT_INTERVAL_SECONDS = env.float("VIEWER_COUNT_INTERVAL_SECONDS", default=1.0)
# Longest a join reuses what another join read about the stream (chat.joins); 0 reads it for every join.
WS_JOIN_CACHE_SECONDS = env.float("WS_JOIN_CACHE_SECONDS", default=1.0)

# --- Analytics (rollups and the analytics API) -----------------------------------------------
# Minutes of each live stream re-rolled every minute, so reports that arrive late are folded in.
ANALYTICS_ROLLUP_LATE_MINUTES = env.int("ANALYTICS_ROLLUP_LATE_MINUTES", default=5)
# Seconds the analytics API keeps an answer (a new rollup minute invalidates it sooner).
ANALYTICS_CACHE_SECONDS = env.int("ANALYTICS_CACHE_SECONDS", default=5)
# --- Analytics (viewer sessions, playback reports) ---------------------------------------------
# Entries kept in the Redis stream of buffered events (approximate cap; oldest dropped beyond it).
ANALYTICS_BUFFER_MAXLEN = env.int("ANALYTICS_BUFFER_MAXLEN", default=1_000_000)
ANALYTICS_BATCH_SIZE = env.int("ANALYTICS_BATCH_SIZE", default=1000)
# A buffered entry read but not acknowledged for this long (its writer died) is written by another.
ANALYTICS_CLAIM_IDLE_SECONDS = env.float("ANALYTICS_CLAIM_IDLE_SECONDS", default=120.0)
# A report whose session is not stored yet is retried for this long, then dropped.
ANALYTICS_ORPHAN_SECONDS = env.float("ANALYTICS_ORPHAN_SECONDS", default=600.0)
ANALYTICS_SESSION_TTL_SECONDS = env.float("ANALYTICS_SESSION_TTL_SECONDS", default=60.0)
# A header a trusted CDN sets to the viewer's ISO country (CF-IPCountry, CloudFront-Viewer-Country).
ANALYTICS_COUNTRY_HEADER = env("ANALYTICS_COUNTRY_HEADER", default="")
# Proxies in front of the platform that append to X-Forwarded-For (0: the socket's address is the client's).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# A MaxMind country or city database (.mmdb); empty uses the registry data the iptocc package ships.
GEOIP_PATH = env("GEOIP_PATH", default="")

# --- Internationalisation, static files -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Front-end libraries come from npm at setup time (`npm ci`), never from the repository.
STATICFILES_DIRS = [BASE_DIR / "static"]
for _package, _folder in (("hls.js", "dist"), ("chart.js", "dist"), ("agora-rtc-sdk-ng", "")):
    if (BASE_DIR / "node_modules" / _package / _folder).is_dir():  # served at static/vendor/<package>/
        STATICFILES_DIRS.append((f"vendor/{_package}", BASE_DIR / "node_modules" / _package / _folder))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_URL = "/media/"
# Runtime state of local processes (rendered nginx config, HLS output, raw recordings).
RUN_DIR = Path(env("RUN_DIR", default=str(BASE_DIR / "var" / "run")))
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))

# --- Monitoring (livestream_site/metrics.py, analytics/monitoring.py) -----------------------------
# Every process writes its Prometheus samples here and /metrics adds them up. Put in the environment
# before prometheus_client is first imported (it picks its storage then); empty it when deploying.
PROMETHEUS_MULTIPROC_DIR = Path(env("PROMETHEUS_MULTIPROC_DIR", default=str(RUN_DIR / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
# With a token, /metrics needs "Authorization: Bearer <token>"; without, only loopback clients may read it.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
ANALYTICS_INGEST_SAMPLE_SECONDS = env.float("ANALYTICS_INGEST_SAMPLE_SECONDS", default=10.0)
# Per-stream alerts: the transcoder is behind below this speed for this many samples in a row ...
ANALYTICS_TRANSCODER_MIN_SPEED = env.float("ANALYTICS_TRANSCODER_MIN_SPEED", default=0.95)
ANALYTICS_TRANSCODER_SLOW_SAMPLES = env.int("ANALYTICS_TRANSCODER_SLOW_SAMPLES", default=3)
# ... the ingest starves below this share of the stream's configured bitrate ...
ANALYTICS_INGEST_STARVING_RATIO = env.float("ANALYTICS_INGEST_STARVING_RATIO", default=0.5)
# ... and the audience rebuffers more than this share of watch time over the last few minutes.
ANALYTICS_REBUFFER_ALERT_RATIO = env.float("ANALYTICS_REBUFFER_ALERT_RATIO", default=0.02)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Security (production) --------------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="info").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}
        for name in ("accounts", "streams", "payments", "chat", "analytics", "livestream_site")
    },
}

# --- Media plane (streams/media; its backends in streams/media/backends) ----------------------
STREAMING_BACKEND = env("STREAMING_BACKEND", default="rtmp")
RTMP_PORT = env.int("RTMP_PORT", default=1935)
MEDIA_HTTP_PORT = env.int("MEDIA_HTTP_PORT", default=8080)
MEDIA_BIND_HOST = env("MEDIA_BIND_HOST", default="127.0.0.1")
# What artists put in OBS; the stream key goes in OBS's "Stream Key" field.
RTMP_INGEST_URL = env("RTMP_INGEST_URL", default=f"rtmp://127.0.0.1:{RTMP_PORT}/live")
# Where viewers fetch HLS and replays (nginx's HTTP server); STREAMING_BASE_URL wins when set.
MEDIA_PUBLIC_URL = env(
    "MEDIA_PUBLIC_URL", default=env("STREAMING_BASE_URL", default=f"http://127.0.0.1:{MEDIA_HTTP_PORT}")
)
# Where nginx reaches the platform for its callbacks.
MEDIA_CALLBACK_BASE_URL = env("MEDIA_CALLBACK_BASE_URL", default=f"http://127.0.0.1:{env('PORT', default='8000')}")
from hashlib import sha256 as _derived  # noqa: E402

MEDIA_CALLBACK_SECRET = env(
    "MEDIA_CALLBACK_SECRET", default=_derived(f"media-callback:{SECRET_KEY}".encode()).hexdigest()[:40]
)
MEDIA_CALLBACK_ALLOWED_IPS = env.list("MEDIA_CALLBACK_ALLOWED_IPS", default=["127.0.0.1", "::1"])
MEDIA_SIGNING_SECRET = env(
    "MEDIA_SIGNING_SECRET", default=_derived(f"media-signing:{SECRET_KEY}".encode()).hexdigest()[:40]
)
# Live playback URLs are bound to the viewer and short-lived (the watch page renews them halfway), so a
# viewer who loses access (refund, cancellation) loses the video within this time (audit F7).
PLAYBACK_TOKEN_TTL_SECONDS = env.int("PLAYBACK_TOKEN_TTL_SECONDS", default=300)
# Replay (recording) URLs: a progressive MP4 is fetched in ranges for as long as it plays.
RECORDING_URL_TTL_SECONDS = env.int("RECORDING_URL_TTL_SECONDS", default=4 * 3600)
STREAM_RECONNECT_WINDOW_SECONDS = env.float("STREAM_RECONNECT_WINDOW_SECONDS", default=30)
STREAM_PUBLISH_OPENS_SECONDS = env.int("STREAM_PUBLISH_OPENS_SECONDS", default=3600)
HLS_SEGMENT_SECONDS = env.float("HLS_SEGMENT_SECONDS", default=2.0)
HLS_PLAYLIST_LENGTH = env.int("HLS_PLAYLIST_LENGTH", default=6)
HLS_LOW_LATENCY = env.bool("HLS_LOW_LATENCY", default=False)
# name:height:video kbps:audio kbps, comma separated.
HLS_LADDER = env("HLS_LADDER", default="360p:360:800:96,720p:720:2800:128,1080p:1080:5000:160")
HLS_X264_PRESET = env("HLS_X264_PRESET", default="veryfast")
MEDIA_FFMPEG = env("MEDIA_FFMPEG", default="ffmpeg")
MEDIA_FFPROBE = env("MEDIA_FFPROBE", default="ffprobe")
MEDIA_NGINX = env("MEDIA_NGINX", default="nginx")
MEDIA_RTMP_MODULE = env("MEDIA_RTMP_MODULE", default="/usr/lib/nginx/modules/ngx_rtmp_module.so")
MEDIA_HEALTH_PROBE_SECONDS = env.int("MEDIA_HEALTH_PROBE_SECONDS", default=8)
# How old the catalogue's still of a live picture may get before it is made again.
LIVE_PICTURE_SECONDS = env.int("LIVE_PICTURE_SECONDS", default=30)
# The demo of `make run` (DJANGO_DEBUG on only): an encoder feeding the demo live show.
DEMO_ENCODER = env.bool("DEMO_ENCODER", default=True)
MEDIA_KEEP_RECORDING_SOURCES = env.bool("MEDIA_KEEP_RECORDING_SOURCES", default=False)
# How long one finalization of a recording holds its lock: above the task's time limit (2,000 s), so a
# running finalization never loses it, and below CELERY_VISIBILITY_TIMEOUT_SECONDS, so the task of a
# worker that died is redelivered after the lock lapsed.
RECORDING_FINALIZE_LOCK_SECONDS = env.int("RECORDING_FINALIZE_LOCK_SECONDS", default=2100)
# --- AWS IVS (STREAMING_BACKEND=ivs; streams/media/backends/ivs) -----------------------------------
# The usual AWS variables configure the client (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, a profile or a
# role); AWS_ENDPOINT_URL points it at a stand-in. AWS_IVS_CHANNEL_ARN: one existing channel for every
# stream instead of a channel per stream.
AWS_REGION = env("AWS_REGION", default=env("AWS_DEFAULT_REGION", default=""))
AWS_ENDPOINT_URL = env("AWS_ENDPOINT_URL", default="")
AWS_IVS_CHANNEL_ARN = env("AWS_IVS_CHANNEL_ARN", default="")
# Private (authorized) channels for pay-per-view: the playback key pair imported into IVS and its
# private key (PEM text, or the path of a PEM file).
IVS_PLAYBACK_KEY_PAIR_ARN = env("IVS_PLAYBACK_KEY_PAIR_ARN", default="")
IVS_PLAYBACK_PRIVATE_KEY = env("IVS_PLAYBACK_PRIVATE_KEY", default="")
# Record streams with recording enabled by this recording configuration, into this S3 bucket.
IVS_RECORDING_CONFIGURATION_ARN = env("IVS_RECORDING_CONFIGURATION_ARN", default="")
IVS_RECORDING_BUCKET = env("IVS_RECORDING_BUCKET", default="")
# The secret EventBridge's API destination sends (Authorization: Bearer ...) with IVS's events.
IVS_EVENTS_SECRET = env("IVS_EVENTS_SECRET", default="")
# Tries of each IVS call (botocore's standard mode: backoff on throttling, 5xx and timeouts).
IVS_MAX_ATTEMPTS = env.int("IVS_MAX_ATTEMPTS", default=4)
# --- Wowza Video (STREAMING_BACKEND=wowza; streams/media/backends/wowza) ----------------------------
# WOWZA_API_KEY: a Wowza Video access token (JWT, sent as a bearer token); WOWZA_API_URL: the REST API's
# base (a Wowza Streaming Engine REST endpoint selects Streaming Engine instead: the block below).
WOWZA_API_KEY = env("WOWZA_API_KEY", default="")
WOWZA_API_URL = env("WOWZA_API_URL", default="https://api.video.wowza.com/api/v2.0")
WOWZA_BROADCAST_LOCATION = env("WOWZA_BROADCAST_LOCATION", default="us_west_oregon")
# The token authentication secret of pay-per-view live streams (hexadecimal, at most 32 characters).
WOWZA_TOKEN_AUTH_SECRET = env("WOWZA_TOKEN_AUTH_SECRET", default="")
WOWZA_TIMEOUT_SECONDS = env.float("WOWZA_TIMEOUT_SECONDS", default=10)
WOWZA_MAX_ATTEMPTS = env.int("WOWZA_MAX_ATTEMPTS", default=3)
# --- Wowza Streaming Engine (STREAMING_BACKEND=wowza; streams/media/backends/wowza/engine.py) -----------
# Selected by a WOWZA_API_URL whose path has /v2/servers/: Engine's REST endpoint down to the virtual host,
# http://<host>:8087/v2/servers/_defaultServer_/vhosts/_defaultVHost_. WOWZA_API_USER and WOWZA_API_KEY are
# an Engine administrator's user name and password (sent as Engine asks: Basic or Digest). The timeout and
# tries above apply.
WOWZA_API_USER = env("WOWZA_API_USER", default="")
# The live application encoders publish to, and the VOD application that plays the recorder's files.
WOWZA_ENGINE_APPLICATION = env("WOWZA_ENGINE_APPLICATION", default="live")
WOWZA_ENGINE_VOD_APPLICATION = env("WOWZA_ENGINE_VOD_APPLICATION", default="vod")
# Where encoders reach Engine (rtmp://host:1935; the application is appended) and where viewers reach its
# HLS (https://host or http://host:1935).
WOWZA_ENGINE_INGEST_URL = env("WOWZA_ENGINE_INGEST_URL", default="")
WOWZA_ENGINE_PLAYBACK_URL = env("WOWZA_ENGINE_PLAYBACK_URL", default="")
# SecureToken version 2 (SHA-256) of both applications: the shared secret signs every playback URL (required
# for pay-per-view), and the query parameter prefix.
WOWZA_ENGINE_SECURE_TOKEN_SECRET = env("WOWZA_ENGINE_SECURE_TOKEN_SECRET", default="")
WOWZA_ENGINE_SECURE_TOKEN_PREFIX = env("WOWZA_ENGINE_SECURE_TOKEN_PREFIX", default="wowzatoken")
# --- Agora (STREAMING_BACKEND=agora; streams/media/backends/agora) ---------------------------------
# The project's App ID and App Certificate (both 32 hex characters: the certificate signs the viewers'
# AccessToken2 RTC tokens), and a RESTful API customer ID and secret (HTTP Basic on every REST call).
AGORA_APP_ID = env("AGORA_APP_ID", default="")
AGORA_APP_CERTIFICATE = env("AGORA_APP_CERTIFICATE", default="")
AGORA_CUSTOMER_ID = env("AGORA_CUSTOMER_ID", default="")
AGORA_CUSTOMER_SECRET = env("AGORA_CUSTOMER_SECRET", default="")
# The REST API's base (Media Gateway, channel management and Cloud Recording all answer there).
AGORA_API_URL = env("AGORA_API_URL", default="https://api.agora.io")
# Media Gateway's region for stream keys and ingest (na, eu, ap or cn: the encoder's region), and the
# RTMP server encoders push to (Agora's unified domain of that region unless a custom domain is set up).
AGORA_MEDIA_GATEWAY_REGION = env("AGORA_MEDIA_GATEWAY_REGION", default="na")
AGORA_INGEST_URL = env(
    "AGORA_INGEST_URL", default=f"rtmp://rtls-ingress-prod-{AGORA_MEDIA_GATEWAY_REGION}.agoramdn.com/live"
)
# A stream key stays valid this long after the stream's scheduled start (then Media Gateway refuses it;
# a key made by an interrupted provisioning expires with it).
AGORA_STREAM_KEY_VALID_SECONDS = env.int("AGORA_STREAM_KEY_VALID_SECONDS", default=24 * 3600)
AGORA_TIMEOUT_SECONDS = env.float("AGORA_TIMEOUT_SECONDS", default=10)
AGORA_MAX_ATTEMPTS = env.int("AGORA_MAX_ATTEMPTS", default=3)
# Cloud Recording's storageConfig, for streams with recording: an Amazon S3 bucket (Agora's vendor 1),
# its AWS region name (us-east-1, ...) and an access key that may write to it (the platform reads the
# replays with the same key). AWS_ENDPOINT_URL points the platform's S3 client at a stand-in.
AGORA_RECORDING_BUCKET = env("AGORA_RECORDING_BUCKET", default="")
AGORA_RECORDING_REGION = env("AGORA_RECORDING_REGION", default="")
AGORA_RECORDING_ACCESS_KEY = env("AGORA_RECORDING_ACCESS_KEY", default="")
AGORA_RECORDING_SECRET_KEY = env("AGORA_RECORDING_SECRET_KEY", default="")
# One provisioning of a stream's resource on a managed media system at a time (above its task's limit).
MEDIA_PROVISION_LOCK_SECONDS = env.int("MEDIA_PROVISION_LOCK_SECONDS", default=120)

# --- Analytics: the watch page's beacons and viewers on other players (analytics/hls_log.py) ----
# How often the watch page's player reports (reportQuality), in seconds.
ANALYTICS_REPORT_SECONDS = env.int("ANALYTICS_REPORT_SECONDS", default=10)
# A viewer on another player whose segment requests stop for this long has left (its session closes).
ANALYTICS_HLS_IDLE_SECONDS = env.int("ANALYTICS_HLS_IDLE_SECONDS", default=60)
