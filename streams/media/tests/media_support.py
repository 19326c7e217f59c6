"""Helpers of the media tests: a private nginx-rtmp from the project's config, a synthetic publisher, a show
created through the API (media tasks run inline with conftest.py's media_tasks_inline)."""

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from livestream_site.testing.processes import free_port  # noqa: F401 - the media tests import it from here
from streams.media.backends.rtmp import config

needs_media = pytest.mark.skipif(
    not (
        shutil.which("nginx") and shutil.which("ffmpeg") and Path("/usr/lib/nginx/modules/ngx_rtmp_module.so").exists()
    ),
    reason="nginx with the RTMP module and ffmpeg are not installed (scripts/system-deps.sh)",
)


def wait_for(predicate, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError):
        return 0, b""


def http_cache_control(url: str) -> str | None:
    """The Cache-Control header of a GET (of an error response too)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.headers.get("Cache-Control")
    except urllib.error.HTTPError as exc:
        return exc.headers.get("Cache-Control")


@contextmanager
def media_server(settings, tmp_path: Path, callback_base_url: str):
    """nginx from streams/media/backends/rtmp/nginx.conf.template, on free loopback ports, in a temporary folder."""
    rtmp_port, http_port = free_port(), free_port()
    settings.RUN_DIR = tmp_path / "run"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RTMP_PORT = rtmp_port
    settings.MEDIA_HTTP_PORT = http_port
    settings.MEDIA_PUBLIC_URL = f"http://127.0.0.1:{http_port}"
    settings.RTMP_INGEST_URL = f"rtmp://127.0.0.1:{rtmp_port}/live"
    settings.MEDIA_CALLBACK_BASE_URL = callback_base_url
    conf = config.render()
    process = subprocess.Popen(config.nginx_command(conf), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(
            lambda: process.poll() is not None or http_get(f"http://127.0.0.1:{http_port}/hls/x.m3u8")[0] == 403,
            timeout=10,
            message="nginx to answer",
        )
        assert process.poll() is None, f"nginx exited: {process.stderr.read().decode()}"
        yield settings
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _callbacks_settle()


def _callbacks_settle(seconds: float = 3) -> None:
    """Let nginx's last callbacks (on_publish_done of an encoder a test just stopped) finish before the
    test's database is flushed: a callback still writing meanwhile deadlocks with the flush's TRUNCATE."""
    from streams.models import StreamIngest

    deadline = time.monotonic() + seconds
    try:
        while StreamIngest.objects.filter(is_publishing=True).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    except Exception:  # no database in this test: nothing to settle
        pass


# The settings a server process must share with the test's nginx (media_server sets them on `settings`).
MEDIA_SETTINGS = (
    "RUN_DIR",
    "MEDIA_ROOT",
    "RTMP_PORT",
    "MEDIA_HTTP_PORT",
    "MEDIA_PUBLIC_URL",
    "RTMP_INGEST_URL",
    "MEDIA_CALLBACK_BASE_URL",
    "MEDIA_SIGNING_SECRET",
    "MEDIA_CALLBACK_SECRET",
    "HLS_X264_PRESET",
    "HLS_SEGMENT_SECONDS",
    "HLS_LADDER",
)


def media_env(settings, *extra: str) -> dict:
    """The environment that gives a daphne process the test's media configuration (and `extra` settings)."""
    return {name: str(getattr(settings, name)) for name in (*MEDIA_SETTINGS, *extra)}


def publisher(
    settings, key: str, *, seconds: float, size: str = "1280x720", picture: str | None = None, options: tuple = ()
) -> subprocess.Popen:
    """The synthetic encoder of SERVICES.md: testsrc + a sine tone, published in real time.

    `picture` replaces testsrc with another lavfi video graph (the glass-to-glass benchmark's clock);
    `options` go in front of the output (e.g. `-progress FILE`)."""
    video = picture or f"testsrc=size={size}:rate=30"
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re"]
    command += ["-f", "lavfi", "-i", video, "-f", "lavfi", "-i", "sine=frequency=440"]
    command += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60"]
    command += ["-c:a", "aac", *options, "-f", "flv", f"rtmp://127.0.0.1:{settings.RTMP_PORT}/live/{key}"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ffprobe_duration(path: Path) -> float:
    output = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip())


def stream_create(client, capture, **fields):
    """POST /api/livestreams/ (a show in five minutes), running what it enqueues after commit."""
    body = {"title": "Show", "scheduledStartTime": (timezone.now() + timedelta(minutes=5)).isoformat(), **fields}
    with capture(execute=True):
        return client.post("/api/livestreams/", body, format="json")
