"""The self-hosted backend: nginx with the RTMP module for ingest, ffmpeg for the ladder, signed HLS,
recorded parts in RUN_DIR/recordings and replays in Django's default storage served by nginx."""

import logging
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.urls import reverse

from .. import HlsRequest, MediaServer, Rendition, StreamingBackend
from . import access_log, config
from .hls import master_token_make, parse_master_playlist, secure_link_token

logger = logging.getLogger(__name__)

STAT_TIMEOUT_SECONDS = 2
# ffmpeg writes a progress block every 2 s (ladder.py); older than this, the ladder is gone.
PROGRESS_STALE_SECONDS = 15
PROGRESS_TAIL_BYTES = 2048
PROGRESS_SPEED_RE = re.compile(r"^speed=\s*([0-9.]+)x\s*$", re.MULTILINE)
# nginx-rtmp names each recorded part "<stream id>-<unix time>.flv" (`record_unique`; on_publish
# renamed the publish to the stream's id).
RECORDED_PART_RE = re.compile(r"^(?P<stream_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-\d+\.flv$")


class RtmpBackend(StreamingBackend):
    name = "rtmp"
    urlconf = "streams.media.backends.rtmp.urls"

    # --- where things are -------------------------------------------------------------------
    @property
    def hls_root(self) -> Path:
        return Path(settings.RUN_DIR) / "hls"

    @property
    def recordings_dir(self) -> Path:
        return (Path(settings.RUN_DIR) / "recordings").resolve()

    @property
    def internal_http_url(self) -> str:
        return f"http://127.0.0.1:{settings.MEDIA_HTTP_PORT}"

    @property
    def internal_rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{settings.RTMP_PORT}/live"

    # --- the interface ----------------------------------------------------------------------
    def ingest_info(self, *, stream) -> dict:
        return {"url": settings.RTMP_INGEST_URL, "streamKey": stream.stream_key}

    def playback_url(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> str:
        token = master_token_make(stream_id=stream.id, expires=int(expires_at.timestamp()), viewer_id=viewer_id)
        return reverse("media-master-playlist", kwargs={"token": token})

    def renditions(self, *, stream) -> list[Rendition]:
        master = self.hls_root / str(stream.id) / "master.m3u8"
        try:
            return parse_master_playlist(master.read_text())
        except FileNotFoundError:
            return []

    def live_picture(self, *, stream) -> Path | None:
        """A frame of the newest segment of the lowest rendition, remade at most every
        LIVE_PICTURE_SECONDS (one ffmpeg run however many visitors ask), kept beside the HLS output."""
        renditions = self.renditions(stream=stream)
        if not renditions:
            return None
        folder = self.hls_root / str(stream.id)
        picture = folder / "live.jpg"
        try:
            if time.time() - picture.stat().st_mtime < settings.LIVE_PICTURE_SECONDS:
                return picture
        except FileNotFoundError:
            pass
        segments = sorted((folder / renditions[0].name).glob("*.ts"), key=lambda path: path.stat().st_mtime)
        if len(segments) < 2:
            return picture if picture.exists() else None
        partial = folder / f".live-{os.getpid()}.jpg"
        command = [settings.MEDIA_FFMPEG, "-v", "error", "-y", "-i", str(segments[-2]), "-frames:v", "1"]
        command += ["-vf", "scale=-2:360", str(partial)]
        try:
            subprocess.run(command, capture_output=True, timeout=15, check=True)
            partial.replace(picture)  # atomic: a reader never sees half a file
        except (subprocess.SubprocessError, OSError):
            logger.warning("live picture of %s could not be made", stream.id, exc_info=True)
            partial.unlink(missing_ok=True)
        return picture if picture.exists() else None

    def output_remove(self, *, stream_id: UUID | str) -> None:
        shutil.rmtree(self.hls_root / str(stream_id), ignore_errors=True)

    def is_publishing(self, *, stream) -> bool | None:
        try:
            return self._stat_stream(str(stream.id)) is not None
        except Exception as exc:
            logger.debug("stat unreadable: %s", exc)
            return None

    def publisher_drop(self, *, stream) -> None:
        url = f"{self.internal_http_url}/control/drop/publisher?{urlencode({'app': 'live', 'name': str(stream.id)})}"
        try:
            urllib.request.urlopen(url, timeout=STAT_TIMEOUT_SECONDS).read()
        except Exception as exc:  # not publishing (404) or the media server is down: nothing to drop
            logger.debug("drop publisher of %s: %s", stream.id, exc)

    def health(self, *, stream) -> dict:
        try:
            node = self._stat_stream(str(stream.id))
        except Exception as exc:
            logger.warning("media server stat unreadable: %s", exc)
            return {"mediaServerReachable": False, "publishing": False, "ingest": None}
        if node is None:
            return {"mediaServerReachable": True, "publishing": False, "ingest": None}
        video, audio = node.find("meta/video"), node.find("meta/audio")
        probed = self._probe_ingest(str(stream.id))
        width = probed.get("width") or _int(video, "width")
        height = probed.get("height") or _int(video, "height")
        uptime_ms = int(node.findtext("time") or 0)
        bytes_in = int(node.findtext("bytes_in") or 0)
        # nginx-rtmp measures bandwidth over 10 s periods: before the first one ends, average it.
        bits_per_second = int(node.findtext("bw_in") or 0) or (bytes_in * 8000 // uptime_ms if uptime_ms else 0)
        ingest = {
            "bitrateKbps": round(bits_per_second / 1000),
            "bytesIn": bytes_in,
            "fps": _float(video, "frame_rate"),
            "width": width,
            "height": height,
            "resolution": f"{width}x{height}" if width and height else None,
            "videoCodec": video.findtext("codec") if video is not None else None,
            "videoProfile": video.findtext("profile") if video is not None else None,
            "audioCodec": audio.findtext("codec") if audio is not None else None,
            "audioSampleRate": _int(audio, "sample_rate"),
            "audioChannels": _int(audio, "channels"),
            "uptimeSeconds": round(uptime_ms / 1000, 1),
            "keyframeIntervalSeconds": probed.get("keyframe_interval"),
        }
        return {"mediaServerReachable": True, "publishing": True, "ingest": ingest}

    def transcoder_speed(self, *, stream) -> float | None:
        """The latest `speed=` of the stream's ffmpeg ladder (its -progress file); None when the file is
        missing, stale (no progress for PROGRESS_STALE_SECONDS) or says N/A."""
        path = Path(settings.RUN_DIR) / "logs" / f"{stream.id}.progress"
        try:
            with path.open("rb") as handle:
                if time.time() - os.fstat(handle.fileno()).st_mtime > PROGRESS_STALE_SECONDS:
                    return None
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - PROGRESS_TAIL_BYTES))
                tail = handle.read().decode("ascii", "replace")
        except FileNotFoundError:
            return None
        speeds = PROGRESS_SPEED_RE.findall(tail)
        return float(speeds[-1]) if speeds else None

    def recording_part_stream_id(self, *, path: str) -> str | None:
        part = Path(path).resolve()
        match = RECORDED_PART_RE.match(part.name)
        if part.parent != self.recordings_dir or not match:
            return None
        return match["stream_id"]

    def recording_save(self, *, name: str, path: Path) -> str:
        # A retry overwrites what an interrupted attempt stored, never adds a copy next to it.
        if default_storage.exists(name):
            default_storage.delete(name)
        with path.open("rb") as handle:
            return default_storage.save(name, File(handle))

    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        storage = default_storage
        if isinstance(storage, FileSystemStorage) and Path(storage.location) == Path(settings.MEDIA_ROOT):
            expires = int(expires_at.timestamp())
            token = secure_link_token(f"/{name}", expires)
            return f"{settings.MEDIA_PUBLIC_URL.rstrip('/')}/vod/{token}/{expires}/{name}"
        # Any other store (S3 through django-storages) signs its own URLs.
        return storage.url(name)

    def hls_requests_read(self, *, cursor: dict | None) -> tuple[list[HlsRequest], dict | None]:
        # nginx writes RUN_DIR/logs/hls-access.log (the `hls_json` format of nginx.conf.template).
        return access_log.requests_read(cursor=cursor)

    def media_server_prepare(self) -> MediaServer:
        conf = config.render()
        command = config.nginx_command(conf)
        return MediaServer(config=conf, run=command, check=[*command, "-t", "-q"])

    # --- nginx-rtmp details -----------------------------------------------------------------
    def _stat_stream(self, name: str):
        with urllib.request.urlopen(f"{self.internal_http_url}/stat", timeout=STAT_TIMEOUT_SECONDS) as response:
            root = ET.fromstring(response.read())
        for node in root.iter("stream"):
            if node.findtext("name") == name and node.find("publishing") is not None:
                return node
        return None

    def _probe_ingest(self, name: str) -> dict:
        """Keyframe spacing and exact picture size, read from the ingest itself (cached: it takes a
        few seconds). nginx-rtmp's stat rounds some heights (1080 shows as 1072); ffprobe does not."""
        key = f"media:ingest-probe:{name}"
        cached = cache.get(key)
        if cached is not None:
            return cached
        url = f"{self.internal_rtmp_url}/{name}"
        seconds = settings.MEDIA_HEALTH_PROBE_SECONDS
        base = [settings.MEDIA_FFPROBE, "-v", "error", "-select_streams", "v:0", "-of", "csv=p=0"]
        size = subprocess.Popen([*base, "-show_entries", "stream=width,height", url], stdout=subprocess.PIPE, text=True)
        packets = subprocess.Popen(
            [*base, "-show_entries", "packet=pts_time,flags", url], stdout=subprocess.PIPE, text=True
        )
        # A live input never ends: stop reading after three keyframes or the probe's time.
        stop = threading.Timer(seconds, lambda: (packets.kill(), size.kill()))
        stop.start()
        keyframes: list[float] = []
        try:
            for line in packets.stdout:
                pts, _, flags = line.strip().partition(",")
                if "K" in flags and pts not in ("", "N/A"):
                    keyframes.append(float(pts))
                    if len(keyframes) == 3:
                        break
            packets.kill()
            width, _, height = (size.communicate()[0] or "").strip().partition(",")
        finally:
            stop.cancel()
            for process in (packets, size):
                process.kill()
                process.wait()
        interval = (keyframes[-1] - keyframes[0]) / (len(keyframes) - 1) if len(keyframes) > 1 else None
        result = {
            "keyframe_interval": round(interval, 2) if interval else None,
            "width": int(width) if width.isdigit() else None,
            "height": int(height) if height.isdigit() else None,
        }
        cache.set(key, result, 30)
        return result


def _int(node, tag):
    text = node.findtext(tag) if node is not None else None
    try:
        return int(float(text)) if text else None
    except ValueError:
        return None


def _float(node, tag):
    text = node.findtext(tag) if node is not None else None
    try:
        return round(float(text), 2) if text else None
    except ValueError:
        return None
