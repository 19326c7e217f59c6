"""The media plane with real processes on loopback: nginx-rtmp from the project's config, ffmpeg
publishers, the platform's callbacks reaching a live Django, HLS and replays fetched over HTTP."""

import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.tests.factories import ArtistFactory
from livestream_site.testing.processes import process_env
from payments.models import LiveStreamPayment
from streams.demo import DEMO_LIVE_TITLE
from streams.media.backends import get_backend
from streams.media.backends.rtmp.hls import secure_link_token
from streams.models import LiveStream, LiveStreamRecording
from streams.tests.factories import stream_factory

from .media_support import (
    ffprobe_duration,
    http_cache_control,
    http_get,
    media_server,
    needs_media,
    publisher,
    wait_for,
)

pytestmark = [pytest.mark.media, needs_media]

RECONNECT_WINDOW = 3


@pytest.fixture
def media(settings, tmp_path, live_server, transactional_db):
    from livestream_site.celery import app

    # Eager Celery: the reconnect window runs on a timer thread, the finalization in the background.
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.HLS_X264_PRESET = "ultrafast"
    settings.HLS_SEGMENT_SECONDS = 1.0
    settings.STREAM_RECONNECT_WINDOW_SECONDS = RECONNECT_WINDOW
    try:
        with media_server(settings, tmp_path, live_server.url) as configured:
            yield configured
    finally:
        app.conf.task_always_eager = eager


def _status(stream) -> str:
    return LiveStream.objects.values_list("status", flat=True).get(pk=stream.id)


def _soon():
    return timezone.now() + timedelta(minutes=1)


def _master(client, stream) -> str | None:
    """The viewer's master playlist through /playback, or None while nothing is produced yet."""
    response = client.get(f"/api/livestreams/{stream.id}/playback")
    assert response.status_code == 200, response.content
    assert response.json()["type"] == "hls"
    master = client.get(urlparse(response.json()["url"]).path)
    return master.content.decode() if master.status_code == 200 else None


def _variants(master: str) -> dict[str, str]:
    return {
        re.search(r"/([^/]+)/index\.m3u8$", line)[1]: line for line in master.splitlines() if line.startswith("http")
    }


def _browser_plays(base_url: str, stream) -> dict:
    """Open the stream page in Chromium; wait until hls.js plays; switch to 360p; report what it saw."""
    from livestream_site.testing.browser import chromium

    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{base_url}/streams/{stream.id}/")
        page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=30_000)
        qualities = page.evaluate("[...document.getElementById('quality').options].map(o => o.text)")
        page.select_option("#quality", label="360p")
        page.wait_for_function("document.getElementById('video').videoHeight === 360", timeout=30_000)
        return {"qualities": qualities, "height": page.evaluate("document.getElementById('video').videoHeight")}


def test_live_ladder_signed_segments_health_and_quality_cap(media, client_for, artist, viewer, live_server):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon())

    wrong = publisher(media, "sk_not-a-key", seconds=3)
    assert wrong.wait(timeout=30) != 0, "a wrong key must be refused"
    assert _status(stream) == "scheduled"

    encoder = publisher(media, stream.stream_key, seconds=40)
    try:
        wait_for(lambda: _status(stream) == "live", timeout=15, message="the stream to go live")
        second = publisher(media, stream.stream_key, seconds=3)
        assert second.wait(timeout=30) != 0, "a second publish with the same key must be refused"

        watcher = client_for(viewer)
        master = wait_for(lambda: _master(watcher, stream), timeout=30, message="the master playlist")
        variants = _variants(master)
        assert sorted(variants) == ["360p", "720p"], master  # a 720p source is never upscaled to 1080p
        assert "RESOLUTION=1280x720" in master and "RESOLUTION=640x360" in master

        def first_segment():
            status, body = http_get(variants["360p"])
            segments = [line for line in body.decode().splitlines() if line.endswith(".ts")] if status == 200 else []
            return segments[0] if segments else None

        segment = wait_for(first_segment, timeout=20, message="a segment")
        # Every segment carries its wall-clock time (the glass-to-glass benchmark reads it in hls.js).
        playlist = http_get(variants["360p"])[1].decode()
        assert playlist.count("#EXT-X-PROGRAM-DATE-TIME:") == playlist.count("#EXTINF:") > 0, playlist
        segment_url = variants["360p"].rsplit("/", 1)[0] + "/" + segment
        status, body = http_get(segment_url)
        assert status == 200 and body[:1] == b"G"  # an MPEG-TS packet
        # Caching a CDN can use: a segment never changes, a live playlist changes every segment.
        ttl = settings.PLAYBACK_TOKEN_TTL_SECONDS
        assert http_cache_control(segment_url) == f"public, max-age={ttl}, immutable"
        assert http_cache_control(variants["360p"]) == "public, max-age=1"

        _, _, token, expires, sid, rung, _ = urlparse(segment_url).path.split("/")
        base = media.MEDIA_PUBLIC_URL
        assert http_get(f"{base}/hls/{sid}/{rung}/{segment}")[0] == 403  # no token
        assert http_get(f"{base}/hls/{'A' * 22}/{expires}/{sid}/{rung}/{segment}")[0] == 403  # forged
        other = stream_factory(artist=artist, scheduled_start_time=_soon())
        others_token = secure_link_token(f"/{other.id}/{rung}", int(expires))
        assert http_get(f"{base}/hls/{others_token}/{expires}/{sid}/{rung}/{segment}")[0] == 403
        assert http_get(f"{base}/hls/{token}/{expires}/{sid}/720p/index.m3u8")[0] == 403  # bound to its rendition
        past = int(timezone.now().timestamp()) - 10
        expired = secure_link_token(f"/{sid}/{rung}", past)
        assert http_get(f"{base}/hls/{expired}/{past}/{sid}/{rung}/{segment}")[0] == 410
        assert http_cache_control(f"{base}/hls/{expired}/{past}/{sid}/{rung}/{segment}") == "no-store"

        health = client_for(artist).get(f"/api/livestreams/{stream.id}/health")
        assert health.status_code == 200, health.content
        data = health.json()
        assert data["publishing"] is True
        assert data["ingest"]["resolution"] == "1280x720"
        assert data["ingest"]["fps"] == 30
        assert data["ingest"]["videoCodec"] == "H264" and data["ingest"]["audioCodec"] == "AAC"
        assert data["ingest"]["bitrateKbps"] > 0 and data["ingest"]["uptimeSeconds"] > 0
        assert data["ingest"]["keyframeIntervalSeconds"] == pytest.approx(2.0, abs=0.2)  # -g 60 at 30 fps
        assert [r["name"] for r in data["renditions"]] == ["360p", "720p"]
        assert watcher.get(f"/api/livestreams/{stream.id}/health").status_code == 403

        # The ladder's ffmpeg reports its progress; the backend reads its speed (1.0 = real time).
        speed = wait_for(
            lambda: get_backend().transcoder_speed(stream=stream), timeout=20, message="the transcoder's speed"
        )
        assert 0 < speed < 100

        # A viewer's browser plays it with hls.js and switches between the two renditions.
        played = _browser_plays(live_server.url, stream)
        assert played["qualities"] == ["Auto", "360p", "720p"] and played["height"] == 360

        capped = client_for(artist).post(f"/api/livestreams/{stream.id}/adapt-quality", {"maxQuality": "low"})
        assert capped.status_code == 200 and capped.json()["qualityCap"] == "low"
        assert sorted(_variants(_master(watcher, stream))) == ["360p"]

        # Ending it on the platform disconnects the encoder.
        ended = client_for(artist).post(f"/api/livestreams/{stream.id}/end")
        assert ended.status_code == 200 and ended.json()["status"] == "ended"
        assert encoder.wait(timeout=15) != 0
    finally:
        encoder.kill()
        encoder.wait()
    assert watcher.get(f"/api/livestreams/{stream.id}/playback").status_code == 409
    hls = Path(media.RUN_DIR) / "hls" / str(stream.id)
    wait_for(lambda: not hls.exists(), timeout=RECONNECT_WINDOW + 15, message="the live HLS files to go")


def test_reconnect_keeps_one_live_stream_and_one_recording_with_replay_for_ticket_holders(
    media, client_for, artist, viewer
):
    stream = stream_factory(
        artist=artist,
        scheduled_start_time=_soon(),
        is_pay_per_view=True,
        is_recording_enabled=True,
        max_quality="low",
    )
    first = publisher(media, stream.stream_key, seconds=4)
    assert first.wait(timeout=30) == 0
    assert _status(stream) == "live"
    # The encoder comes back within the window, and stays longer than the window.
    second = publisher(media, stream.stream_key, seconds=5)
    try:
        master = wait_for(lambda: _master(client_for(artist), stream), timeout=30, message="the master playlist")
        assert sorted(_variants(master)) == ["360p"]  # maxQuality low: the ladder stops at 360p
        assert second.wait(timeout=30) == 0
    finally:
        second.kill()
        second.wait()
    assert _status(stream) == "live", "a reconnect within the window must keep the stream live"
    wait_for(lambda: _status(stream) == "ended", timeout=RECONNECT_WINDOW + 15, message="the stream to end")

    recording = wait_for(
        lambda: LiveStreamRecording.objects.filter(stream=stream, status__in=["ready", "failed"]).first(),
        timeout=60,
        message="the recording to finalize",
    )
    assert recording.status == "ready", recording.error
    assert LiveStreamRecording.objects.filter(stream=stream).count() == 1
    stored = Path(media.MEDIA_ROOT) / recording.file.name
    assert ffprobe_duration(stored) == pytest.approx(9.0, abs=1.0)
    assert recording.duration_seconds == pytest.approx(9.0, abs=1.0)
    assert (recording.width, recording.height) == (1280, 720)
    assert list((Path(media.RUN_DIR) / "recordings").glob("*.flv")) == []  # sources gone once verified

    # Replay follows tickets: no ticket, no URL; a paid ticket, a signed URL nginx serves.
    watcher = client_for(viewer)
    listed = watcher.get(f"/api/livestreams/{stream.id}/recordings").json()
    assert [(r["id"], r["status"], r["url"], r["thumbnailUrl"]) for r in listed] == [
        (str(recording.id), "ready", None, None)
    ]
    assert watcher.get(f"/api/livestreams/{stream.id}/playback").status_code == 402
    LiveStreamPayment.objects.create(
        stream=stream, user=viewer, amount=stream.ticket_price, currency="usd", status="paid", paid_at=timezone.now()
    )
    listed = watcher.get(f"/api/livestreams/{stream.id}/recordings").json()
    assert (
        listed[0]["sizeBytes"] == stored.stat().st_size and listed[0]["durationSeconds"] == recording.duration_seconds
    )
    status, body = http_get(listed[0]["url"])
    assert status == 200 and len(body) == stored.stat().st_size and body[4:8] == b"ftyp"
    status, body = http_get(listed[0]["thumbnailUrl"])
    assert status == 200 and body[:2] == b"\xff\xd8"  # a JPEG
    tampered = listed[0]["url"].replace(".mp4", "x.mp4")
    assert http_get(tampered)[0] == 403


def _demo_encoder(env: dict) -> subprocess.Popen:
    base = Path(__file__).resolve().parents[3]
    return subprocess.Popen(
        [sys.executable, "manage.py", "demo_encoder"],
        cwd=base,
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_demo_encoder_makes_the_demo_show_really_live_and_stops_with_its_process(media, client):
    """`make run`'s demo process publishes ffmpeg's test picture to the demo live show through the real
    nginx, so the demo lists nothing as live without video; stopping the process stops the encoder."""
    artist = ArtistFactory(username="demo_artist")
    stream = stream_factory(artist=artist, title=DEMO_LIVE_TITLE, scheduled_start_time=_soon())
    encoder = _demo_encoder({"DJANGO_DEBUG": "true", "RTMP_INGEST_URL": media.RTMP_INGEST_URL})
    try:
        wait_for(lambda: _status(stream) == "live", timeout=30, message="the demo show to go live")
        renditions = wait_for(
            lambda: (Path(media.RUN_DIR) / "hls" / str(stream.id) / "master.m3u8").exists(),
            timeout=30,
            message="the demo show's HLS",
        )
        assert renditions
        # The catalogue shows a still of the live picture, made from the newest segment and reused.
        picture = wait_for(
            lambda: (lambda r: r if r.status_code == 200 else None)(client.get(f"/streams/{stream.id}/live.jpg")),
            timeout=30,
            message="a live picture",
        )
        assert picture["Content-Type"] == "image/jpeg" and b"".join(picture.streaming_content)[:3] == b"\xff\xd8\xff"
        made = (Path(media.RUN_DIR) / "hls" / str(stream.id) / "live.jpg").stat().st_mtime
        assert client.get(f"/streams/{stream.id}/live.jpg").status_code == 200
        assert (Path(media.RUN_DIR) / "hls" / str(stream.id) / "live.jpg").stat().st_mtime == made
        assert f'src="/streams/{stream.id}/live.jpg"' in client.get("/").content.decode()
    finally:
        encoder.terminate()
        encoder.wait(timeout=15)
    # Its ffmpeg went with it: no publisher of the demo key is left running.
    wait_for(
        lambda: subprocess.run(["pgrep", "-f", stream.stream_key], capture_output=True).returncode == 1,
        timeout=10,
        message="the demo encoder's ffmpeg to stop",
    )


def test_no_live_picture_before_a_show_is_live(client, artist):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon())
    assert client.get(f"/streams/{stream.id}/live.jpg").status_code == 404
    assert client.get("/streams/not-a-stream/live.jpg").status_code == 404


def test_the_demo_encoder_idles_in_production():
    production = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "p" * 60, "DJANGO_ALLOWED_HOSTS": "localhost"}
    encoder = _demo_encoder(production)
    try:
        assert "demo encoder: off (DJANGO_DEBUG=false)" in encoder.stdout.readline()
        time.sleep(1)
        assert encoder.poll() is None  # idles: honcho would stop every process if it exited
    finally:
        encoder.terminate()
        encoder.wait(timeout=10)


def test_an_encoder_test_before_the_show_plays_for_the_artist_and_the_show_goes_live_when_the_artist_says(
    media, client_for, artist, viewer
):
    """goLiveOnPublish off: a publish before the show is a test. The artist sees the signal and the
    picture; the show stays scheduled for everyone until the artist goes live, with the same encoder."""
    created = client_for(artist).post(
        "/api/livestreams",
        {
            "title": "Soundcheck",
            "scheduledStartTime": _soon().isoformat(),
            "goLiveOnPublish": False,
            "maxQuality": "low",
        },
        format="json",
    )
    assert created.status_code == 201 and created.json()["goLiveOnPublish"] is False
    stream = LiveStream.objects.get(pk=created.json()["id"])
    encoder = publisher(media, stream.stream_key, seconds=30)
    try:
        health = wait_for(
            lambda: (lambda h: h if h["publishing"] else None)(
                client_for(artist).get(f"/api/livestreams/{stream.id}/health").json()
            ),
            timeout=20,
            message="the encoder's signal",
        )
        assert health["status"] == "scheduled"  # a test: not live
        master = wait_for(lambda: _master(client_for(artist), stream), timeout=30, message="the preview's playlist")
        assert sorted(_variants(master)) == ["360p"]
        assert _status(stream) == "scheduled"
        started = client_for(artist).post(f"/api/livestreams/{stream.id}/start")
        assert started.status_code == 200 and started.json()["status"] == "live"
        assert client_for(artist).get(f"/api/livestreams/{stream.id}/health").json()["publishing"] is True
    finally:
        encoder.kill()
        encoder.wait()
