"""Settings in each mode, each read by a fresh Python process with a clean environment."""

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

PROBE = """
import json, logging, django
django.setup()
from django.conf import settings
from django.core.cache import caches
from channels.layers import get_channel_layer
from livestream_site.celery import app
database = settings.DATABASES["default"]
print(json.dumps({
    "engine": database["ENGINE"],
    "host": database.get("HOST"),
    "name": str(database["NAME"]),
    "cache": type(caches["default"]).__name__,
    "channelLayer": type(get_channel_layer()).__name__,
    "eager": app.conf.task_always_eager,
    "broker": app.conf.broker_url,
    "debug": settings.DEBUG,
    "streamsLogLevel": logging.getLogger("streams").getEffectiveLevel(),
    "allowedHosts": settings.ALLOWED_HOSTS,
}))
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run the project's Python with only PATH and the given variables set (no DATABASE_URL, no REDIS_URL)."""
    clean = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "livestream_site.settings", **env}
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=120)


def probe(**env: str) -> dict:
    result = run(["-c", PROBE], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def real_secret_key() -> str:
    return secrets.token_urlsafe(50)


@pytest.fixture(autouse=True)
def no_dotenv():
    if (BASE_DIR / ".env").exists():
        pytest.skip("a .env file in the project would leak into the 'nothing set' mode")


def test_nothing_set_runs_embedded():
    found = probe()
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"].endswith("db.sqlite3")
    assert found["cache"] == "LocMemCache"
    assert found["channelLayer"] == "InMemoryChannelLayer"
    assert found["eager"] is True
    assert found["broker"] == "memory://"
    assert found["debug"] is True
    assert found["streamsLogLevel"] == 20  # info


def test_database_and_redis_urls_switch_to_postgres_and_redis():
    found = probe(
        DATABASE_URL="postgres://user:pass@db.internal:5432/platform",
        REDIS_URL="redis://cache.internal:6379/2",
        LOG_LEVEL="debug",
    )
    assert found["engine"] == "django.db.backends.postgresql"
    assert (found["host"], found["name"]) == ("db.internal", "platform")
    assert found["cache"] == "RedisCache"
    assert found["channelLayer"] == "RedisChannelLayer"
    assert found["broker"] == "redis://cache.internal:6379/2"
    assert found["eager"] is False
    assert found["streamsLogLevel"] == 10  # debug


@pytest.mark.parametrize(
    "env,message",
    [
        ({}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": "stream.example.com"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short", "DJANGO_ALLOWED_HOSTS": "stream.example.com"}, "DJANGO_SECRET_KEY"),
        (
            {"DJANGO_SECRET_KEY": "django-insecure-" + "x" * 60, "DJANGO_ALLOWED_HOSTS": "stream.example.com"},
            "DJANGO_SECRET_KEY",
        ),
        ({"DJANGO_SECRET_KEY": "<key>"}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_SECRET_KEY": "<key>", "DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_SECRET_KEY": "<key>", "DJANGO_ALLOWED_HOSTS": " , "}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_unsafe(env, message):
    env = {key: (real_secret_key() if value == "<key>" else value) for key, value in env.items()}
    result = run(["manage.py", "check"], DJANGO_DEBUG="false", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


def test_production_with_a_key_and_hosts_passes_the_deploy_check():
    env = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": real_secret_key(),
        "DJANGO_ALLOWED_HOSTS": "stream.example.com, www.stream.example.com",
    }
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    found = probe(**env)
    assert found["debug"] is False
    assert found["allowedHosts"] == ["stream.example.com", "www.stream.example.com"]


@pytest.mark.parametrize("value", ["50000,20", "a,b,c", "0,10,10"])
def test_a_malformed_gc_threshold_stops_the_start(value):
    result = run(["manage.py", "check"], WEB_GC_THRESHOLDS=value)
    assert result.returncode != 0
    assert "WEB_GC_THRESHOLDS" in result.stderr.strip().splitlines()[-1]


def test_the_web_process_tunes_its_garbage_collector():
    probe = "import gc, json; from livestream_site import asgi; print(json.dumps([gc.get_threshold(), gc.get_freeze_count() > 0]))"
    tuned = run(["-c", probe], WEB_GC_THRESHOLDS="40000,15,90")
    assert tuned.returncode == 0, tuned.stderr
    assert json.loads(tuned.stdout.strip().splitlines()[-1]) == [[40000, 15, 90], True]
    own = run(["-c", probe], WEB_GC_THRESHOLDS="")
    assert json.loads(own.stdout.strip().splitlines()[-1]) == [[700, 10, 10], True]
