"""The media plane's rules through its interfaces (nginx's callbacks, the REST actions, the master
playlist), without a media server running: fast tests of what test_media.py runs end to end."""

import shutil
import subprocess
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from payments.models import LiveStreamPayment
from streams.media import services as media_services
from streams.media.backends.rtmp import config
from streams.media.backends.rtmp.hls import master_token_make, secure_link_token
from streams.media.backends.rtmp.ladder import choose_rungs, parse_ladder
from streams.models import LiveStream, LiveStreamRecording, StreamIngest
from streams.tests.factories import stream_factory

from .media_support import free_port

FFMPEG_MASTER = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-STREAM-INF:BANDWIDTH=985600,RESOLUTION=640x360,CODECS="avc1.42c01e,mp4a.40.2"
360p/index.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=3220800,RESOLUTION=1280x720,CODECS="avc1.42c01f,mp4a.40.2"
720p/index.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=5683200,RESOLUTION=1920x1080,CODECS="avc1.42c028,mp4a.40.2"
1080p/index.m3u8
"""


@pytest.fixture(autouse=True)
def media_dirs(settings, tmp_path):
    settings.RUN_DIR = tmp_path / "run"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_HTTP_PORT = free_port()  # nothing listens: the media server is "down"
    settings.MEDIA_PUBLIC_URL = "http://media.test"
    (tmp_path / "run" / "recordings").mkdir(parents=True)
    return settings


def _callback(client, event: str, secret: str | None = None, remote_addr: str = "127.0.0.1", **data):
    from django.conf import settings

    url = f"/media-callbacks/{secret or settings.MEDIA_CALLBACK_SECRET}/{event}"
    return client.post(url, data, REMOTE_ADDR=remote_addr)


def _publish(client, stream, clientid="7"):
    return _callback(client, "publish", name=stream.stream_key, clientid=clientid, addr="127.0.0.1", call="publish")


def _soon():
    return timezone.now() + timedelta(minutes=5)


def _status(stream):
    return LiveStream.objects.values_list("status", flat=True).get(pk=stream.id)


# --- Callbacks ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_callbacks_accept_only_the_media_server(client, artist):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon())
    assert _callback(client, "publish", secret="wrong-secret", name=stream.stream_key).status_code == 403
    assert _callback(client, "publish", remote_addr="203.0.113.9", name=stream.stream_key).status_code == 403
    assert _status(stream) == "scheduled"


@pytest.mark.django_db
def test_publish_goes_live_renames_to_the_stream_id_and_tells_viewers(
    client, artist, django_capture_on_commit_callbacks, room_frames
):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon())
    with django_capture_on_commit_callbacks(execute=True):
        response = _publish(client, stream)
    assert response.status_code == 302
    assert response["Location"] == str(stream.id)  # nginx renames the publish: no key in files or URLs
    assert _status(stream) == "live"
    [message] = [frame for frame in room_frames if frame["event"] == "streamUpdate"]
    assert message["roomId"] == str(stream.id) and message["data"]["status"] == "live"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("unknown", "unknown_stream_key"),
        ("too_early", "too_early"),
        ("cancelled", "stream_closed"),
        ("ended", "stream_closed"),
        ("publishing", "already_publishing"),
    ],
)
def test_publish_refusals(client, artist, setup, code):
    start = timezone.now() + timedelta(days=2) if setup == "too_early" else _soon()
    status = setup if setup in ("cancelled", "ended") else "scheduled"
    stream = stream_factory(artist=artist, scheduled_start_time=start, status=status)
    if setup == "publishing":
        assert _publish(client, stream, clientid="1").status_code == 302
    key = "sk_unknown" if setup == "unknown" else stream.stream_key
    response = _callback(client, "publish", name=key, clientid="2")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == code


@pytest.mark.django_db
def test_publish_done_ends_after_the_window_unless_the_encoder_reconnects(client, artist):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon())
    _publish(client, stream, clientid="1")
    assert _callback(client, "publish-done", name=stream.stream_key, clientid="1").status_code == 204
    _publish(client, stream, clientid="2")  # back within the window
    media_services.ingest_reconnect_window_expire(stream_id=stream.id, generation=1)
    assert _status(stream) == "live"
    # A stale publish_done of the first connection does not end the second.
    _callback(client, "publish-done", name=stream.stream_key, clientid="1")
    assert StreamIngest.objects.get(stream=stream).is_publishing is True
    _callback(client, "publish-done", name=stream.stream_key, clientid="2")
    media_services.ingest_reconnect_window_expire(stream_id=stream.id, generation=2)
    assert _status(stream) == "ended"


@pytest.mark.django_db
def test_reconcile_closes_publishes_the_media_server_no_longer_has(client, artist, settings):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    stream = stream_factory(artist=artist, scheduled_start_time=_soon())
    _publish(client, stream)
    assert media_services.ingest_reconcile() == 0  # the media server is unreachable: no verdict

    class EmptyStat(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<rtmp><server><application><name>live</name><live></live></application></server></rtmp>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), EmptyStat)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.MEDIA_HTTP_PORT = server.server_address[1]
    try:
        assert media_services.ingest_reconcile() == 1
    finally:
        server.shutdown()
    assert StreamIngest.objects.get(stream=stream).is_publishing is False
    media_services.ingest_reconnect_window_expire(stream_id=stream.id, generation=1)
    assert _status(stream) == "ended"


@pytest.mark.django_db
def test_record_done_refuses_foreign_paths_and_discards_unrecorded_streams(client, artist, settings):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon(), is_recording_enabled=False)
    _publish(client, stream)
    assert _callback(client, "record-done", path="/etc/passwd").status_code == 403
    part = Path(settings.RUN_DIR) / "recordings" / f"{stream.id}-1700000000.flv"
    part.write_bytes(b"FLV")
    assert _callback(client, "record-done", path=str(part)).status_code == 204
    assert not part.exists()
    assert not LiveStreamRecording.objects.filter(stream=stream).exists()


@pytest.mark.django_db
def test_a_recording_that_cannot_be_remuxed_fails_and_keeps_its_source(client, artist, settings):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon(), is_recording_enabled=True)
    _publish(client, stream)
    part = Path(settings.RUN_DIR) / "recordings" / f"{stream.id}-1700000000.flv"
    part.write_bytes(b"not a video")
    _callback(client, "record-done", path=str(part))
    recording = LiveStreamRecording.objects.get(stream=stream)
    assert recording.status == "recording" and recording.source_paths == [str(part)]
    from streams.media.tasks import recording_finalize

    recording_finalize.apply(args=[str(recording.id)])
    recording.refresh_from_db()
    assert recording.status == "failed" and "ffprobe" in recording.error
    assert part.exists()


@pytest.mark.django_db
def test_ladder_plan_tells_the_ladder_the_stream_cap(client, artist):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon(), max_quality="medium")
    from django.conf import settings

    response = client.get(f"/media-callbacks/{settings.MEDIA_CALLBACK_SECRET}/plan", {"name": str(stream.id)})
    assert response.json() == {"maxHeight": 720}


def test_ladder_never_upscales_and_obeys_the_cap():
    ladder = parse_ladder("720p:720:2800:128,360p:360:800:96,1080p:1080:5000:160")
    assert [r["name"] for r in choose_rungs(ladder, source_height=720, max_height=None)] == ["360p", "720p"]
    assert [r["name"] for r in choose_rungs(ladder, source_height=1080, max_height=360)] == ["360p"]
    assert [r["name"] for r in choose_rungs(ladder, source_height=1080, max_height=1080)] == ["360p", "720p", "1080p"]
    # nginx-rtmp's stat reports a 1920x1080 ingest as 1072 pixels high
    assert [r["name"] for r in choose_rungs(ladder, source_height=1072, max_height=None)][-1] == "1080p"
    assert [(r["name"], r["height"]) for r in choose_rungs(ladder, source_height=241, max_height=None)] == [
        ("240p", 240)
    ]


# --- Playback ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_playback_follows_the_access_check(client_for, anon_client, artist, viewer):
    free = stream_factory(artist=artist, scheduled_start_time=_soon())
    paid = stream_factory(artist=artist, scheduled_start_time=_soon(), is_pay_per_view=True)
    cancelled = stream_factory(artist=artist, scheduled_start_time=_soon(), status="cancelled")
    ended = stream_factory(artist=artist, scheduled_start_time=_soon(), status="ended")
    watcher = client_for(viewer)

    response = anon_client.get(f"/api/livestreams/{free.id}/playback")
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "hls" and "/playback/" in body["url"] and body["url"].endswith("master.m3u8")
    assert body["expiresAt"]
    assert watcher.get(f"/api/livestreams/{paid.id}/playback").json()["error"]["code"] == "payment_required"
    assert anon_client.get(f"/api/livestreams/{paid.id}/playback").status_code == 402
    assert client_for(artist).get(f"/api/livestreams/{paid.id}/playback").status_code == 200
    LiveStreamPayment.objects.create(stream=paid, user=viewer, amount=Decimal("10"), currency="usd", status="paid")
    assert watcher.get(f"/api/livestreams/{paid.id}/playback").status_code == 200
    forbidden = watcher.get(f"/api/livestreams/{cancelled.id}/playback")
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    assert watcher.get(f"/api/livestreams/{ended.id}/playback").json()["error"]["code"] == "stream_ended"


@pytest.mark.django_db
def test_master_playlist_lists_allowed_renditions_with_signed_urls(client, client_for, artist, settings):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon(), max_quality="medium", status="live")
    url = client.get(f"/api/livestreams/{stream.id}/playback").json()["url"]
    path = url.split("testserver", 1)[1]
    assert client.get(path).status_code == 404  # nothing produced yet
    hls = Path(settings.RUN_DIR) / "hls" / str(stream.id)
    hls.mkdir(parents=True)
    (hls / "master.m3u8").write_text(FFMPEG_MASTER)

    response = client.get(path)
    assert response.status_code == 200 and response["Content-Type"] == "application/vnd.apple.mpegurl"
    variants = [line for line in response.content.decode().splitlines() if line.startswith("http")]
    assert [v.split("/")[-2] for v in variants] == ["360p", "720p"]  # maxQuality medium: no 1080p
    for variant in variants:
        _, _, _, _, token, expires, sid, rung, _ = variant.split("/")
        assert sid == str(stream.id) and token == secure_link_token(f"/{sid}/{rung}", int(expires))

    client_for(artist).post(f"/api/livestreams/{stream.id}/adapt-quality", {"maxQuality": "low"})
    capped = client.get(path).content.decode()
    assert [line.split("/")[-2] for line in capped.splitlines() if line.startswith("http")] == ["360p"]

    tampered = path.replace("master.m3u8", "").rstrip("/")
    assert client.get(tampered[:-3] + "abc/master.m3u8").status_code == 403
    past = master_token_make(stream_id=stream.id, expires=int(timezone.now().timestamp()) - 1)
    expired = client.get(f"/playback/{past}/master.m3u8")
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "playback_expired"


# --- adapt-quality, health, ingest ---------------------------------------------------------------
@pytest.mark.django_db
def test_adapt_quality_caps_lifts_and_tells_viewers(
    client_for, artist, viewer, django_capture_on_commit_callbacks, room_frames
):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon(), max_quality="high")
    url = f"/api/livestreams/{stream.id}/adapt-quality"
    assert client_for(viewer).post(url, {"maxQuality": "low"}).status_code == 403
    invalid = client_for(artist).post(url, {"maxQuality": "ultra"})
    assert invalid.status_code == 400 and "maxQuality" in invalid.json()["error"]["fields"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(artist).post(url, {"maxQuality": "medium"})
    assert response.status_code == 200 and response.json()["qualityCap"] == "medium"
    [message] = [frame for frame in room_frames if frame["event"] == "streamUpdate"]
    assert message["data"]["qualityCap"] == "medium"
    assert client_for(artist).post(url, {"maxQuality": "high"}).json()["qualityCap"] is None


@pytest.mark.django_db
def test_health_and_ingest_are_for_the_artist_and_staff(client_for, artist, viewer, staff, settings):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon())
    assert client_for(viewer).get(f"/api/livestreams/{stream.id}/health").status_code == 403
    assert client_for(viewer).get(f"/api/livestreams/{stream.id}/ingest").status_code == 403
    health = client_for(staff).get(f"/api/livestreams/{stream.id}/health").json()
    assert health["mediaServerReachable"] is False and health["publishing"] is False and health["renditions"] == []
    ingest = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest").json()
    assert ingest == {"url": settings.RTMP_INGEST_URL, "streamKey": stream.stream_key}


# --- Recordings ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_recordings_list_signs_urls_only_for_viewers_with_access(
    client_for, anon_client, artist, viewer, django_assert_max_num_queries
):
    stream = stream_factory(artist=artist, scheduled_start_time=_soon(), is_pay_per_view=True, status="ended")
    ready = LiveStreamRecording.objects.create(
        stream=stream,
        status="ready",
        file=f"recordings/{stream.id}/a.mp4",
        thumbnail=f"thumbnails/{stream.id}/a.jpg",
        duration_seconds=61.5,
        width=1280,
        height=720,
        size_bytes=123456,
    )
    LiveStreamRecording.objects.create(stream=stream, status="recording")
    url = f"/api/livestreams/{stream.id}/recordings"
    watcher = client_for(viewer)

    with django_assert_max_num_queries(4):  # the user, the stream, the ticket, the recordings
        listed = watcher.get(url).json()
    assert sorted(r["status"] for r in listed) == ["processing", "ready"]
    assert all(r["url"] is None and r["thumbnailUrl"] is None for r in listed)
    assert all(r["url"] is None for r in anon_client.get(url).json())

    LiveStreamPayment.objects.create(stream=stream, user=viewer, amount=Decimal("10"), currency="usd", status="paid")
    listed = {r["id"]: r for r in client_for(viewer).get(url).json()}
    item = listed[str(ready.id)]
    assert (item["durationSeconds"], item["width"], item["height"], item["sizeBytes"]) == (61.5, 1280, 720, 123456)
    _, _, _, _, token, expires, *rest = item["url"].split("/")
    assert "/".join(rest) == ready.file.name and token == secure_link_token(f"/{ready.file.name}", int(expires))
    assert item["thumbnailUrl"].endswith(ready.thumbnail.name)


# --- The nginx config ----------------------------------------------------------------------------
@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed")
def test_rendered_config_passes_nginx_test(settings):
    settings.HLS_LOW_LATENCY = True
    conf = config.render()
    text = conf.read_text()
    assert str(settings.RUN_DIR) in text and "/etc/nginx" not in text
    assert "--low-latency" in text and settings.MEDIA_SIGNING_SECRET in text
    result = subprocess.run([*config.nginx_command(conf), "-t"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_a_playback_url_is_bound_to_its_viewer_and_stops_working_when_access_is_lost(
    client_for, artist, viewer, settings
):
    """Audit F7: the master playlist checks the viewer the URL was handed to, on every fetch; a refund
    ends it at once (the variant URLs then end with PLAYBACK_TOKEN_TTL_SECONDS, minutes by default)."""
    assert settings.PLAYBACK_TOKEN_TTL_SECONDS <= 600
    stream = stream_factory(artist=artist, scheduled_start_time=_soon(), is_pay_per_view=True, status="live")
    hls = Path(settings.RUN_DIR) / "hls" / str(stream.id)
    hls.mkdir(parents=True)
    (hls / "master.m3u8").write_text(FFMPEG_MASTER)
    payment = LiveStreamPayment.objects.create(
        stream=stream, user=viewer, amount=Decimal("10"), currency="usd", status="paid"
    )
    playback = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback").json()
    path = playback["url"].split("testserver", 1)[1]
    expires_in = datetime.fromisoformat(playback["expiresAt"].replace("Z", "+00:00")) - timezone.now()
    assert expires_in.total_seconds() <= settings.PLAYBACK_TOKEN_TTL_SECONDS
    assert client_for(None).get(path).status_code == 200  # the URL works wherever it is played...

    LiveStreamPayment.objects.filter(pk=payment.pk).update(status="refunded")
    refused = client_for(None).get(path)  # ...while its viewer may watch
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    # Nobody else's access revives it, and a token without a viewer is anonymous: no ticket, no playlist.
    anonymous = master_token_make(stream_id=stream.id, expires=int(timezone.now().timestamp()) + 60)
    assert client_for(None).get(f"/playback/{anonymous}/master.m3u8").status_code == 403
    artist_token = master_token_make(
        stream_id=stream.id, expires=int(timezone.now().timestamp()) + 60, viewer_id=artist.id
    )
    assert client_for(None).get(f"/playback/{artist_token}/master.m3u8").status_code == 200
