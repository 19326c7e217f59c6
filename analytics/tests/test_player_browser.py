"""The watch page's player in Chromium, playing a real ffmpeg publish through nginx-rtmp and a real
daphne: its beacons go out (reportQuality over the WebSocket, a sendBeacon POST when the page goes
away, CMCD on its segment requests), and the server's qualityAdvice caps hls.js."""

import json
import re
import socket
import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from analytics.hls_log import cmcd_parse
from chat import inputs
from chat import services as chat_services
from livestream_site.errors import ApplicationError
from livestream_site.testing.browser import chromium, in_thread
from livestream_site.testing.processes import daphne_server, free_port
from streams.media.tests.media_support import media_env, media_server, needs_media, publisher, wait_for
from streams.models import LiveStream
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.browser, pytest.mark.media, needs_media, pytest.mark.django_db(transaction=True)]

REPORT_SECONDS = 2
# Playback URLs live this long on these servers: the page must renew them without a stall (audit F7).
TOKEN_TTL_SECONDS = 6


def _takes_the_report_contract() -> bool:
    """Whether the WebSocket accepts the page's report fields (the pipeline's extended reportQuality)."""
    try:
        report = {"sessionId": str(uuid.uuid4()), "startupTimeMs": 1, "watchMs": 1, "rebufferMs": 0}
        inputs.frame_input(inputs.QualityReportInput, {**report, "rebufferCount": 0, "rendition": "720p"})
        return True
    except ApplicationError:
        return False


@pytest.fixture
def stage(settings, tmp_path, artist):
    """nginx-rtmp and daphne sharing one configuration, and a stream published by ffmpeg, live."""
    settings.HLS_X264_PRESET = "ultrafast"
    settings.HLS_SEGMENT_SECONDS = 1.0
    settings.MEDIA_SIGNING_SECRET = "player-test-signing-secret"
    settings.MEDIA_CALLBACK_SECRET = "player-test-callback-secret"
    port = free_port()
    with media_server(settings, tmp_path, f"http://127.0.0.1:{port}") as media:
        env = media_env(media)
        env.update(
            ANALYTICS_REPORT_SECONDS=str(REPORT_SECONDS),
            CELERY_TASK_ALWAYS_EAGER="true",
            PLAYBACK_TOKEN_TTL_SECONDS=str(TOKEN_TTL_SECONDS),
        )
        with daphne_server(env=env, port=port) as daphne:
            proxy = TeeProxy(daphne.port)
            stream = stream_factory(artist=artist, scheduled_start_time=timezone.now() + timedelta(minutes=1))
            encoder = publisher(media, stream.stream_key, seconds=120)
            try:
                wait_for(
                    lambda: LiveStream.objects.filter(pk=stream.pk, status="live").exists(),
                    timeout=20,
                    message="the stream to go live",
                )
                yield proxy, stream, media
            finally:
                encoder.kill()
                encoder.wait()
                proxy.close()


def _session_key(user) -> str:
    return in_thread(_session_key_make, user)


def _session_key_make(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


class TeeProxy:
    """A TCP relay in front of daphne that keeps every byte the browser sends (HTTP and WebSocket)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, target, keep):
        try:
            while data := source.recv(65536):
                if keep:
                    with self.lock:
                        self.sent += data
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def request(self, start: str) -> bytes | None:
        """The first request whose line starts with `start`, head and body (by its Content-Length)."""
        with self.lock:
            sent = bytes(self.sent)
        at = sent.find(start.encode())
        if at == -1 or b"\r\n\r\n" not in sent[at:]:
            return None
        head, _, rest = sent[at:].partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        return head + b"\r\n\r\n" + rest[:length] if len(rest) >= length else None

    def close(self):
        self.listener.close()


class Watch:
    """A watch page in Chromium, with every WebSocket frame it sends and every request it makes."""

    def __init__(self, browser, url: str, *, user=None):
        self.page = browser.new_page()
        if user is not None:  # signed in: the session cookie of a session made here
            host = urlparse(url).hostname
            cookie = {"name": "sessionid", "value": _session_key(user), "domain": host, "path": "/"}
            self.page.context.add_cookies([cookie])
        self.sent: list[dict] = []
        self.received: list[dict] = []
        self.requests: list = []
        self.page.on("websocket", self._socket)
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.goto(url)

    def _socket(self, socket):
        socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def until(self, predicate, *, timeout: float, message: str):
        """Wait (letting the page's events in) until predicate() is true; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            self.page.wait_for_timeout(200)
        raise AssertionError(f"timed out after {timeout}s waiting for {message}")

    def reports(self) -> list[dict]:
        return [frame["data"] for frame in self.sent if frame.get("event") == "reportQuality"]

    def evaluate(self, script: str):
        return self.page.evaluate(script)


def test_the_watch_page_reports_its_playback_and_says_goodbye_with_a_beacon(stage):
    proxy, stream, media = stage
    with chromium() as browser:
        watch = Watch(browser, f"{proxy.url}/streams/{stream.id}/")
        watch.page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=40_000)

        first = watch.until(
            lambda: next((r for r in watch.reports() if "startupTimeMs" in r and "rendition" in r), None),
            timeout=REPORT_SECONDS * 5,
            message="a report with the startup time",
        )
        assert first["streamId"] == str(stream.id)
        assert 0 < first["startupTimeMs"] < 40_000
        assert first["rendition"] in ("360p", "720p") and first["bitrateKbps"] > 0
        assert first["playerWidth"] > 0 and first["playerHeight"] > 0
        assert first["bandwidthKbps"] > 0 and first["latencyMs"] >= 0
        assert "exitBeforeVideoStart" not in first
        session_id = first["sessionId"]
        uuid.UUID(session_id)

        # Later reports carry watch time since the one before, and the startup time only once.
        later = watch.until(
            lambda: [r for r in watch.reports()[watch.reports().index(first) + 1 :] if r["watchMs"] > 0],
            timeout=REPORT_SECONDS * 5,
            message="a later report",
        )
        assert all("startupTimeMs" not in r for r in later)
        assert all(r["watchMs"] <= (REPORT_SECONDS + 1) * 1000 for r in later)

        # CMCD: the media server's requests carry the same session id and the stream as content id.
        segments = [r.url for r in watch.requests if "/hls/" in r.url and ".ts" in urlparse(r.url).path]
        assert segments
        cmcd = cmcd_parse(parse_qs(urlparse(segments[-1]).query)["CMCD"][0])
        assert (cmcd["sid"], cmcd["cid"]) == (session_id, str(stream.id))

        # Leaving the page sends what remains through navigator.sendBeacon. (A request sent while the
        # page unloads reaches neither Playwright nor the DevTools protocol: it is read off the wire.)
        watch.page.goto("about:blank")
        beacon = watch.until(
            lambda: proxy.request(f"POST /api/livestreams/{stream.id}/quality-reports "),
            timeout=10,
            message="the beacon",
        )
        head, _, body = beacon.partition(b"\r\n\r\n")
        assert b"content-type: application/json" in head.lower()
        final = json.loads(body)
        assert final["sessionId"] == session_id and "streamId" not in final
        assert final["watchMs"] >= 0 and final["rendition"] in ("360p", "720p")

    # nginx logged the page's segment requests with their CMCD: the page is one viewer in both sources.
    log = (media.RUN_DIR / "logs" / "hls-access.log").read_text().splitlines()
    logged = [cmcd_parse(json.loads(line)["cmcd"]).get("sid") for line in log]
    assert session_id in logged


def test_leaving_before_the_first_frame_is_an_exit_before_video_start(stage):
    proxy, stream, _ = stage
    with chromium() as browser:
        watch = Watch(browser, "about:blank")
        blocked = []

        def block(route):  # the media server is out of reach: no frame ever shows
            blocked.append(route.request.url)
            route.abort()

        watch.page.route("**/hls/**", block)
        watch.page.goto(f"{proxy.url}/streams/{stream.id}/")
        watch.until(lambda: blocked, timeout=30, message="the player to ask for the live HLS")
        assert watch.evaluate("document.getElementById('video').currentTime") == 0
        watch.page.goto("about:blank")
        beacon = watch.until(
            lambda: proxy.request(f"POST /api/livestreams/{stream.id}/quality-reports "),
            timeout=10,
            message="the beacon",
        )
    final = json.loads(beacon.partition(b"\r\n\r\n")[2])
    assert final["exitBeforeVideoStart"] is True
    assert "startupTimeMs" not in final and final["watchMs"] == 0
    uuid.UUID(final["sessionId"])


@pytest.mark.skipif(
    not _takes_the_report_contract(), reason="reportQuality does not take the page's report fields yet (the pipeline)"
)
def test_quality_advice_caps_the_player_until_it_lifts_and_the_viewer_can_override(stage):
    proxy, stream, _ = stage
    with chromium() as browser:
        watch = Watch(browser, f"{proxy.url}/streams/{stream.id}/")
        watch.page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=40_000)
        levels = watch.evaluate("Livestage.player.hls().levels.map((level) => level.height)")
        assert sorted(levels) == [360, 720]
        assert watch.evaluate("Livestage.player.hls().autoLevelCapping") == -1

        # The viewer picks 720p, then the connection falls to 2 Mbit/s, which does not carry 720p
        # (2928 kbps x 1.2): the server advises 360p, but the viewer's own choice wins.
        watch.page.select_option("#quality", label="720p")
        cdp = watch.page.context.new_cdp_session(watch.page)
        cdp.send("Network.enable")
        conditions = {"offline": False, "latency": 20, "uploadThroughput": -1}
        cdp.send("Network.emulateNetworkConditions", {**conditions, "downloadThroughput": 250_000})
        advice = watch.until(
            lambda: next((f["data"] for f in watch.received if f.get("event") == "qualityAdvice"), None),
            timeout=60,
            message="qualityAdvice",
        )
        assert advice["streamId"] == str(stream.id)
        assert advice["maxRendition"] == "360p" and advice["reason"] in ("bandwidth", "rebuffering")
        assert watch.evaluate("Livestage.player.hls().autoLevelCapping") == -1
        assert watch.page.get_by_test_id("quality-note").inner_text() == ""

        # Back on Auto, the advice caps hls.js at 360p, and the page says so.
        watch.page.select_option("#quality", label="Auto")
        capped = watch.evaluate(
            "(() => { const h = Livestage.player.hls(); return h.levels[h.autoLevelCapping].height; })()"
        )
        assert capped == 360
        assert "360p" in watch.page.get_by_test_id("quality-note").inner_text()

        # The connection recovers: clean reports lift the cap.
        cdp.send("Network.emulateNetworkConditions", {**conditions, "latency": 0, "downloadThroughput": -1})
        watch.until(
            lambda: any(
                f.get("event") == "qualityAdvice" and f["data"]["maxRendition"] is None for f in watch.received
            ),
            timeout=90,
            message="the advice to lift",
        )
        watch.page.wait_for_function("Livestage.player.hls().autoLevelCapping === -1", timeout=5_000)


def test_playback_outlives_its_short_lived_urls_and_stops_when_access_is_lost(stage, viewer, artist):
    """The page renews its signed URLs halfway through their life, so playback runs on for many lifetimes;
    a ban without end takes the viewer out of the room, and the page stops the video and says why."""
    proxy, stream, _ = stage
    signed = re.compile(r"/hls/([^/]+)/(\d+)/")
    with chromium() as browser:
        watch = Watch(browser, f"{proxy.url}/streams/{stream.id}/", user=viewer)
        watch.page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=40_000)
        started = watch.evaluate("document.getElementById('video').currentTime")
        watch.page.wait_for_function(
            f"document.getElementById('video').currentTime > {started + TOKEN_TTL_SECONDS * 2.5}",
            timeout=TOKEN_TTL_SECONDS * 6 * 1000,
        )
        # Played on past several expiries, never stalled on one: every media request was answered, and
        # the segments went out under at least three signatures.
        assert watch.evaluate("document.getElementById('video-message').hidden")
        media = [r for r in watch.requests if signed.search(r.url)]
        refused = [(r.url, r.response().status) for r in media if r.response() and r.response().status >= 400]
        assert not refused, refused
        assert len({signed.search(r.url)[2] for r in media if ".ts" in r.url}) >= 3

        in_thread(chat_services.chat_ban_create, stream_id=stream.id, user_id=viewer.id, by_user=artist)
        left = watch.until(
            lambda: next((f["data"] for f in watch.received if f.get("event") == "leftStream"), None),
            timeout=10,
            message="leftStream",
        )
        assert left["reason"] == "banned"
        watch.page.wait_for_function("!document.getElementById('video-message').hidden", timeout=5_000)
        assert "no longer" in watch.evaluate("document.getElementById('video-message').textContent")
        assert watch.evaluate("Livestage.player.hls() === null")
