"""Wowza Streaming Engine through the platform's REST API, against WowzaEngineDouble (wowza_engine_double.py: a
local stand-in of Engine's REST API and HLS playback written from Engine's documented shapes, whose pages its
docstring lists; it checks Digest or Basic auth and refuses malformed requests), reached through the backend's
own HTTP client (urllib with its Digest and Basic handlers).
"""

import json
import urllib.error
import urllib.request

import pytest

from accounts.tests.factories import UserFactory
from payments.tests.factories import paid_ticket_factory
from streams.media import services as media_services
from streams.media.backends import backend_configuration_errors, get_backend
from streams.media.backends.wowza import WowzaBackend, WowzaEngineBackend
from streams.media.backends.wowza.tokens import secure_token_query
from streams.models import LiveStream, LiveStreamRecording, MediaProviderEvent

from .media_support import stream_create
from .wowza_engine_double import WowzaEngineDouble

SECRET = "4c1vEStage-secure-token"
INGEST = "rtmp://engine.example.com:1935"


def _configure(settings, double: WowzaEngineDouble) -> None:
    settings.STREAMING_BACKEND = "wowza"
    settings.WOWZA_API_URL = double.url
    settings.WOWZA_API_USER = double.user
    settings.WOWZA_API_KEY = double.password
    settings.WOWZA_ENGINE_INGEST_URL = INGEST
    settings.WOWZA_ENGINE_PLAYBACK_URL = double.playback_url
    settings.WOWZA_ENGINE_SECURE_TOKEN_SECRET = double.secret


@pytest.fixture
def engine(settings, media_tasks_inline):
    double = WowzaEngineDouble(secure_token_secret=SECRET).start()
    _configure(settings, double)
    settings.WOWZA_MAX_ATTEMPTS = 3
    yield double
    double.stop()


def test_secure_token_matches_wowzas_documented_example():
    # The HLS example of "Protect streaming using SecureToken in Wowza Streaming Engine" (SHA-256, client IP in
    # the hash, a custom public parameter, start and end times).
    query = secure_token_query(
        secret="mySharedSecret",
        content_path="vod/sample.mp4",
        prefix="myTokenPrefix",
        params={"starttime": 1395230400, "endtime": 1500000000, "CustomParameter": "abcdef"},
        client_ip="192.168.1.2",
    )
    assert query == (
        "myTokenPrefixCustomParameter=abcdef&myTokenPrefixendtime=1500000000&myTokenPrefixstarttime=1395230400"
        "&myTokenPrefixhash=TgJft5hsjKyC5Rem_EoUNP7xZvxbqVPhhd0GxIcA2oo="
    )


@pytest.mark.django_db
def test_pay_per_view_stream_on_wowza_engine_end_to_end(
    engine, client_for, artist, viewer, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    created = stream_create(client_for(artist), capture, isPayPerView=True, ticketPrice="9.00", isRecordingEnabled=True)
    assert created.status_code == 201, created.content
    stream = LiveStream.objects.get(pk=created.json()["id"])
    name = f"livestage-{stream.id}"
    assert stream.media_backend == "wowza_engine" and stream.media_resource["streamName"] == name
    # Its resource on Engine: a publishing account of its own (a missing account is created, not updated).
    assert engine.publishers == {name: stream.media_resource["password"]}
    assert engine.log[-2:] == [
        ("PUT", f"/v3/servers/_defaultServer_/publishers/{name}"),
        ("POST", "/v3/servers/_defaultServer_/publishers"),
    ]

    # Ingest settings: Engine's RTMP address and live application, the stream name and the account.
    ingest = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest/").json()
    assert ingest == {
        "url": f"{INGEST}/live",
        "streamKey": name,
        "username": name,
        "password": stream.media_resource["password"],
    }

    # The encoder connects with them (not without); the poll sees it, takes the stream live and starts the
    # recorder, one file for the stream that a reconnect would add to.
    assert not engine.encoder_connect("live", name, username=name, password="guess")
    assert engine.encoder_connect("live", ingest["streamKey"], username=ingest["username"], password=ingest["password"])
    engine.failures.append(("POST", 503))  # the recorder does not start at the first try
    with capture(execute=True):
        media_services.media_poll()
        assert name not in engine.recorders
        media_services.media_poll()  # seen twice: one publish
    stream.refresh_from_db()
    assert stream.status == "live" and stream.ingest.generation == 1
    assert MediaProviderEvent.objects.filter(backend="wowza_engine").count() == 1
    assert stream.recordings.get().status == "recording"
    recorder = engine.recorders[name]
    assert (recorder["recorderState"], recorder["baseFile"], recorder["option"]) == (
        "Recording in progress",
        f"{name}.mp4",
        "Append to existing file",
    )

    # A ticket holder gets a SecureToken URL Engine accepts; without a ticket, 402.
    refused = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "payment_required")
    paid_ticket_factory(stream=stream, user=viewer)
    url = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/").json()["url"]
    assert url.startswith(f"{engine.playback_url}/live/{name}/playlist.m3u8?wowzatokenendtime=")
    assert engine.playback_status(url) == 200
    assert engine.playback_status(url.split("?")[0]) == 403  # unsigned
    assert engine.playback_status(url.replace("endtime=", "endtime=9")) == 403  # tampered
    engine.clock_offset = 3600
    assert engine.playback_status(url) == 403  # expired
    engine.clock_offset = 0

    health = client_for(artist).get(f"/api/livestreams/{stream.id}/health/").json()
    assert (health["backend"], health["publishing"], health["ingest"]["bitrateKbps"]) == ("wowza_engine", True, 4480)
    engine.failures.extend([("GET", 503)] * 3)
    health = client_for(artist).get(f"/api/livestreams/{stream.id}/health/").json()
    assert (health["mediaServerReachable"], health["publishing"]) == (False, False)

    # The artist ends it: the account goes (the encoder's reconnects are refused), the publish is cut, which
    # stops the recorder and leaves its file.
    with capture(execute=True):
        assert client_for(artist).post(f"/api/livestreams/{stream.id}/end/").status_code == 200
    assert name not in engine.incoming and name not in engine.publishers and name not in engine.recorders
    assert not engine.encoder_connect("live", name, username=ingest["username"], password=ingest["password"])
    assert engine.content == {f"{name}.mp4": [name]}

    # The poll finds the recorder gone: the file is the replay, played by the VOD application, signed.
    with capture(execute=True):
        media_services.media_poll()
        media_services.media_poll()
    recording = LiveStreamRecording.objects.get(stream=stream)
    assert (recording.status, recording.file.name) == ("ready", f"wowza_engine/{name}.mp4")
    asked = len(engine.log)
    with capture(execute=True):
        assert media_services.media_poll() == 0  # nothing left to ask about this stream
    assert len(engine.log) == asked
    replay = client_for(viewer).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]
    assert replay["url"].startswith(f"{engine.playback_url}/vod/mp4:{name}.mp4/playlist.m3u8?wowzatokenendtime=")
    assert engine.playback_status(replay["url"]) == 200
    assert engine.playback_status(replay["url"].replace(f"{name}.mp4", "other.mp4")) == 403
    assert client_for(UserFactory()).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]["url"] is None


@pytest.mark.django_db
def test_key_rotation_and_deletion_reach_wowza_engine(engine, client_for, artist, django_capture_on_commit_callbacks):
    stream = LiveStream.objects.get(
        pk=stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    )
    name = stream.media_resource["streamName"]
    old = stream.media_resource["password"]
    assert client_for(artist).post(f"/api/livestreams/{stream.id}/stream-key/rotate/").status_code == 200
    new = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest/").json()["password"]
    assert new != old and engine.publishers[name] == new
    assert not engine.encoder_connect("live", name, username=name, password=old)
    assert engine.encoder_connect("live", name, username=name, password=new)

    # Free streams are signed too: SecureToken is the application's setting on Engine.
    url = client_for(UserFactory()).get(f"/api/livestreams/{stream.id}/playback/").json()["url"]
    assert "wowzatokenhash=" in url and engine.playback_status(url) == 200

    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(artist).delete(f"/api/livestreams/{stream.id}/").status_code == 204
    assert name not in engine.publishers and name not in engine.incoming
    assert engine.log[-2:] == [
        ("PUT", f"/v2/servers/_defaultServer_/vhosts/_defaultVHost_/applications/live/instances/_definst_/incomingstreams/{name}/actions/disconnectStream"),
        ("DELETE", f"/v3/servers/_defaultServer_/publishers/{name}"),
    ]  # fmt: skip


@pytest.mark.django_db
def test_wowza_engine_failures_are_retried_or_kept_and_a_malformed_request_is_refused(
    engine, client_for, artist, settings, django_capture_on_commit_callbacks
):
    # The double checks the credentials (a Digest challenge first) and the body.
    request = urllib.request.Request(f"{engine.url}/applications/live", headers={"Accept": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"].startswith("Digest ")
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, engine.url, engine.user, "wrong")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(passwords)).open(request, timeout=5)
    assert refused.value.code == 401
    passwords.add_password(None, engine.url, engine.user, engine.password)
    recorder = urllib.request.Request(
        f"{engine.url}/applications/live/instances/_definst_/streamrecorders/x",
        data=json.dumps({"recorderName": "x", "baseFile": "x.mp4", "option": "Keep going"}).encode(),
        method="POST",
        headers={"Accept": "application/json", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(passwords)).open(recorder, timeout=5)
    assert refused.value.code == 400

    # A create that fails is sent once and not retried by the client: the stream waits without a resource, the
    # error kept on it, and Engine has nothing half-made.
    engine.failures.append(("POST", 503))
    stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    stream = LiveStream.objects.get(pk=stream_id)
    assert stream.media_backend == "" and "503" in stream.media_error and not engine.publishers

    # Timeouts, 429 and 5xx of repeatable calls are retried with backoff; the reconcile then provisions it.
    settings.WOWZA_TIMEOUT_SECONDS = 0.3
    engine.failures.extend([("GET", "timeout"), ("GET", 503), ("PUT", 429)])
    with django_capture_on_commit_callbacks(execute=True):
        media_services.media_reconcile()
    stream.refresh_from_db()
    assert stream.media_backend == "wowza_engine" and list(engine.publishers) == [f"livestage-{stream_id}"]
    assert not engine.failures

    # A key rotation Engine keeps failing is a 502, and so are credentials Engine refuses (not retried).
    engine.failures.extend([("PUT", 503)] * 3)
    failed = client_for(artist).post(f"/api/livestreams/{stream_id}/stream-key/rotate/")
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "media_provider_error")
    settings.WOWZA_API_KEY = "not-the-password"
    asked = len(engine.log)
    failed = client_for(artist).post(f"/api/livestreams/{stream_id}/stream-key/rotate/")
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "media_provider_error")
    assert len(engine.log) == asked


@pytest.mark.django_db
def test_wowza_engine_with_basic_auth(engine, settings, client_for, artist, django_capture_on_commit_callbacks):
    # Engine's default since 4.8.5.05: the same client answers a Basic challenge.
    engine.auth = "basic"
    engine.secret = settings.WOWZA_ENGINE_SECURE_TOKEN_SECRET = ""
    stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    stream = LiveStream.objects.get(pk=stream_id)
    assert stream.media_backend == "wowza_engine" and engine.publishers
    url = client_for(artist).get(f"/api/livestreams/{stream_id}/playback/").json()["url"]
    assert "?" not in url  # no SecureToken secret: plain URLs
    resource = stream.media_resource
    assert engine.encoder_connect(
        "live", resource["streamName"], username=resource["username"], password=resource["password"]
    )
    assert engine.playback_status(url) == 200


@pytest.mark.django_db
def test_pay_per_view_on_wowza_engine_needs_secure_token(
    engine, client_for, artist, settings, django_capture_on_commit_callbacks
):
    settings.WOWZA_ENGINE_SECURE_TOKEN_SECRET = ""
    response = stream_create(
        client_for(artist), django_capture_on_commit_callbacks, isPayPerView=True, ticketPrice="2.00"
    )
    assert response.status_code == 400
    assert "WOWZA_ENGINE_SECURE_TOKEN_SECRET" in response.json()["error"]["fields"]["isPayPerView"][0]


def test_wowza_engine_configuration_is_checked_at_start(settings):
    settings.STREAMING_BACKEND = "wowza"
    settings.WOWZA_API_URL = "http://engine.example.com:8087/v2/servers/_defaultServer_"
    settings.WOWZA_API_USER = settings.WOWZA_API_KEY = ""
    settings.WOWZA_ENGINE_INGEST_URL = "engine.example.com"
    settings.WOWZA_ENGINE_PLAYBACK_URL = ""
    settings.WOWZA_ENGINE_APPLICATION = "live/x"
    errors = backend_configuration_errors()
    named = [
        "WOWZA_API_URL",
        "WOWZA_API_USER",
        "WOWZA_API_KEY",
        "WOWZA_ENGINE_INGEST_URL",
        "WOWZA_ENGINE_PLAYBACK_URL",
        "WOWZA_ENGINE_APPLICATION",
    ]
    assert [next(v for v in named if message.startswith(v)) for message in errors] == named
    settings.WOWZA_API_URL = "http://engine.example.com:8087/v2/servers/_defaultServer_/vhosts/_defaultVHost_"
    settings.WOWZA_API_USER, settings.WOWZA_API_KEY = "admin", "secret"
    settings.WOWZA_ENGINE_INGEST_URL = INGEST
    settings.WOWZA_ENGINE_PLAYBACK_URL = "https://engine.example.com"
    settings.WOWZA_ENGINE_APPLICATION = "live"
    assert backend_configuration_errors() == []


def test_the_wowza_api_url_selects_the_flavour(settings):
    settings.STREAMING_BACKEND = "wowza"
    settings.WOWZA_API_URL = "https://api.video.wowza.com/api/v2.0"
    assert type(get_backend()) is WowzaBackend and get_backend().name == "wowza"
    settings.WOWZA_API_URL = "http://engine.example.com:8087/v2/servers/_defaultServer_/vhosts/_defaultVHost_"
    assert type(get_backend()) is WowzaEngineBackend and get_backend().name == "wowza_engine"
    # A stream provisioned by Engine finds its backend by the stored name, whatever is configured now.
    settings.STREAMING_BACKEND = "rtmp"
    assert type(get_backend("wowza_engine")) is WowzaEngineBackend
