"""Render the nginx config template into RUN_DIR, with every path, port and secret filled in."""

import os
import pwd
import shutil
import sys
from pathlib import Path

from django.conf import settings
from django.template import Context, Engine

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
LADDER_SCRIPT = Path(__file__).with_name("ladder.py")


def _which(program: str) -> str:
    # nginx starts `exec` children with an empty environment: every program by its full path.
    return shutil.which(program) or program


def callback_url() -> str:
    return f"{settings.MEDIA_CALLBACK_BASE_URL.rstrip('/')}/media-callbacks/{settings.MEDIA_CALLBACK_SECRET}"


def ladder_command(run_dir: Path) -> str:
    args = [
        sys.executable,
        str(LADDER_SCRIPT),
        "--name",
        "$name",
        "--input",
        f"rtmp://127.0.0.1:{settings.RTMP_PORT}/live",
        "--hls-root",
        str(run_dir / "hls"),
        "--log-dir",
        str(run_dir / "logs"),
        "--stat-url",
        f"http://127.0.0.1:{settings.MEDIA_HTTP_PORT}/stat",
        "--plan-url",
        f"{callback_url()}/plan",
        "--ladder",
        settings.HLS_LADDER,
        "--segment",
        str(settings.HLS_SEGMENT_SECONDS),
        "--list-size",
        str(settings.HLS_PLAYLIST_LENGTH),
        "--preset",
        settings.HLS_X264_PRESET,
        "--ffmpeg",
        _which(settings.MEDIA_FFMPEG),
        "--ffprobe",
        _which(settings.MEDIA_FFPROBE),
    ]
    if settings.HLS_LOW_LATENCY:
        args.append("--low-latency")
    # nginx-rtmp splits exec arguments on spaces and knows no quoting: none may contain one.
    for arg in args:
        if any(char.isspace() for char in arg) or ";" in arg:
            raise ValueError(f"media config: {arg!r} must not contain spaces or ';'")
    return " ".join(args)


def render(*, run_dir: Path | None = None, daemon: bool = False) -> Path:
    """Write RUN_DIR/nginx.conf (and its folders); return its path."""
    run_dir = Path(run_dir or settings.RUN_DIR).resolve()
    media_root = Path(settings.MEDIA_ROOT).resolve()
    for sub in ("logs", "tmp", "hls", "recordings"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    media_root.mkdir(parents=True, exist_ok=True)
    # Started as root, nginx would run its workers (and the ladder) as `nobody`; keep them the
    # platform's own user so that the files they write are the platform's to move and delete.
    user = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else ""
    context = {
        "rtmp_module": settings.MEDIA_RTMP_MODULE,
        "user": user,
        "daemon": "on" if daemon else "off",
        "run_dir": str(run_dir),
        "media_root": str(media_root),
        "error_log_level": "info" if settings.LOG_LEVEL == "DEBUG" else "warn",
        "bind_host": settings.MEDIA_BIND_HOST,
        "rtmp_port": settings.RTMP_PORT,
        "http_port": settings.MEDIA_HTTP_PORT,
        "callback_url": callback_url(),
        "signing_secret": settings.MEDIA_SIGNING_SECRET,
        "ladder_command": ladder_command(run_dir),
        # A live playlist is rewritten every segment: cached for at most half of one.
        "playlist_cache_seconds": max(1, int(settings.HLS_SEGMENT_SECONDS // 2)),
        "segment_cache_seconds": settings.PLAYBACK_TOKEN_TTL_SECONDS,
    }
    for key in ("signing_secret", "callback_url", "run_dir", "media_root"):
        if any(char.isspace() for char in str(context[key])) or ";" in str(context[key]):
            raise ValueError(f"media config: {key} must not contain spaces or ';'")
    engine = Engine(autoescape=False)
    text = engine.from_string(TEMPLATE.read_text()).render(Context(context))
    path = run_dir / "nginx.conf"
    path.write_text(text)
    path.chmod(0o600)  # it holds the signing secret
    return path


def nginx_command(conf: Path) -> list[str]:
    return [_which(settings.MEDIA_NGINX), "-p", str(conf.parent), "-c", str(conf)]
