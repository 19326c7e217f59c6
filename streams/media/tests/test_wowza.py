"""The Wowza Video backend through the platform's REST API, against WowzaDouble (wowza_double.py: a local
HTTP stand-in written from Wowza Video's documented REST API v2.0, whose pages its docstring lists; it
checks the bearer token and refuses malformed requests), reached through the backend's own HTTP client.
"""

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from accounts.tests.factories import UserFactory
from payments.tests.factories import paid_ticket_factory
from streams.media import services as media_services
from streams.media.backends import backend_configuration_errors
from streams.media.backends.wowza.tokens import fastly_token
from streams.models import LiveStream, LiveStreamRecording, MediaProviderEvent

from .media_support import stream_create
from .wowza_double import WowzaDouble

SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.fixture
def wowza(settings, monkeypatch, media_tasks_inline):
    double = WowzaDouble().start()
    settings.STREAMING_BACKEND = "wowza"
    settings.WOWZA_API_URL = f"{double.url}/api/v2.0"
    settings.WOWZA_API_KEY = double.token
    settings.WOWZA_TOKEN_AUTH_SECRET = SECRET
    settings.WOWZA_MAX_ATTEMPTS = 3
    yield double
    double.stop()


def test_the_fastly_token_matches_wowzas_published_generator():
    # The example of Wowza's token generators' README: -s 1578935505 -e 1578935593 -u YourStreamId -k demosecret123abc
    assert fastly_token(
        secret="demosecret123abc", stream_id="YourStreamId", end_time=1578935593, start_time=1578935505
    ) == ("hdnts=st=1578935505~exp=1578935593~hmac=aaf01da130e5554eeb74159e9794c58748bc9f6b5706593775011964612b6d99")


@pytest.mark.django_db
def test_pay_per_view_stream_on_wowza_end_to_end(wowza, client_for, artist, viewer, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    created = stream_create(client_for(artist), capture, isPayPerView=True, ticketPrice="9.00", isRecordingEnabled=True)
    assert created.status_code == 201, created.content
    stream = LiveStream.objects.get(pk=created.json()["id"])
    live = wowza.live_streams[stream.media_resource["id"]]
    assert (live["name"], live["encoder"], live["recording"], live["security"]["token_auth_enabled"]) == (
        f"livestage-{stream.id}",
        "other_rtmp",
        True,
        True,
    )
    assert (live["aspect_ratio_width"], live["aspect_ratio_height"], live["state"]) == (1920, 1080, "stopped")

    # Ingest settings: Wowza's server, stream name and RTMP credentials.
    ingest = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest/").json()
    source = live["source_connection_information"]
    assert ingest == {
        "url": source["primary_server"],
        "streamKey": source["stream_name"],
        "username": source["username"],
        "password": source["password"],
    }

    # Publishing is open: the poll starts the Wowza live stream, then sees the encoder and goes live.
    assert not wowza.encoder_connect(live["id"])  # a stopped live stream takes no encoder
    with capture(execute=True):
        media_services.media_poll()
    assert live["state"] == "started" and ("PUT", f"/api/v2.0/live_streams/{live['id']}/start") in wowza.log
    assert LiveStream.objects.get(pk=stream.id).status == "scheduled"
    assert wowza.encoder_connect(live["id"])
    with capture(execute=True):
        media_services.media_poll()
        media_services.media_poll()  # seen twice: one publish
    stream.refresh_from_db()
    assert stream.status == "live" and stream.ingest.generation == 1
    # Polls that see nothing new keep nothing (one event: the publish).
    assert MediaProviderEvent.objects.filter(backend="wowza").count() == 1
    assert stream.recordings.get().status == "recording"

    # A ticket holder gets a token-authenticated URL Wowza accepts; without a ticket, 402.
    refused = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "payment_required")
    paid_ticket_factory(stream=stream, user=viewer)
    playback = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/").json()
    url = urlsplit(playback["url"])
    assert playback["url"].startswith(live["hls_playback_url"] + "?hdnts=") and playback["withCredentials"] is True
    assert wowza.playback_token_valid(live["id"], url.query, now=int(time.time()))
    assert not wowza.playback_token_valid(live["id"], url.query, now=int(time.time()) + 3600)  # it expires
    assert not wowza.playback_token_valid(live["id"], url.query.replace("exp=", "exp=9"), now=int(time.time()))

    health = client_for(artist).get(f"/api/livestreams/{stream.id}/health/").json()
    assert (
        health["backend"],
        health["publishing"],
        health["ingest"]["bitrateKbps"],
        health["ingest"]["resolution"],
    ) == (
        "wowza",
        True,
        4480,
        "1920x1080",
    )
    assert health["ingest"]["warnings"] == ["height"]

    # The artist ends it: Wowza's live stream is stopped, which disconnects the encoder and refuses it.
    with capture(execute=True):
        assert client_for(artist).post(f"/api/livestreams/{stream.id}/end/").status_code == 200
    assert live["state"] == "stopped" and not wowza.encoder_connect(live["id"])

    # Wowza's recorder finished: the poll makes it the replay, served by Wowza's own download URL.
    wowza.recording_add(live["id"], duration=3600)
    with capture(execute=True):
        media_services.media_poll()
        media_services.media_poll()
    recording = LiveStreamRecording.objects.get(stream=stream)
    assert (recording.status, recording.duration_seconds) == ("ready", 3600)
    asked = len(wowza.log)
    with capture(execute=True):
        assert media_services.media_poll() == 0  # nothing left to ask about this stream
    assert len(wowza.log) == asked
    replay = client_for(viewer).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]
    assert replay["url"].startswith("https://wowzasubscriberdownloads.s3.amazonaws.com/")
    assert client_for(UserFactory()).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]["url"] is None


@pytest.mark.django_db
def test_key_rotation_and_deletion_reach_wowza(wowza, client_for, artist, django_capture_on_commit_callbacks):
    stream = LiveStream.objects.get(
        pk=stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    )
    live_id = stream.media_resource["id"]
    old = dict(wowza.live_streams[live_id]["source_connection_information"])
    assert client_for(artist).post(f"/api/livestreams/{stream.id}/stream-key/rotate/").status_code == 200
    new = wowza.live_streams[live_id]["source_connection_information"]
    assert new["password"] != old["password"] and new["username"] != old["username"]
    ingest = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest/").json()
    assert (ingest["username"], ingest["password"]) == (new["username"], new["password"])

    with django_capture_on_commit_callbacks(execute=True):
        media_services.media_poll()  # publishing is open: the poll started it
    assert wowza.live_streams[live_id]["state"] == "started"
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(artist).delete(f"/api/livestreams/{stream.id}/").status_code == 204
    assert live_id not in wowza.live_streams
    assert wowza.log[-2:] == [
        ("PUT", f"/api/v2.0/live_streams/{live_id}/stop"),
        ("DELETE", f"/api/v2.0/live_streams/{live_id}"),
    ]


@pytest.mark.django_db
def test_wowza_failures_are_retried_or_kept_and_a_malformed_request_is_refused(
    wowza, client_for, artist, settings, django_capture_on_commit_callbacks
):
    # The double checks the bearer token and the body: what the backend sends must pass both.
    request = urllib.request.Request(f"{wowza.url}/api/v2.0/live_streams", method="GET")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    request = urllib.request.Request(
        f"{wowza.url}/api/v2.0/live_streams",
        data=json.dumps({"live_stream": {"name": "x", "broadcast_location": "mars", "encoder": "other_rtmp"}}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {wowza.token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 422

    # A 422 (a wrong WOWZA_BROADCAST_LOCATION) is not retried: the stream waits, the error kept on it.
    settings.WOWZA_BROADCAST_LOCATION = "mars"
    stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    stream = LiveStream.objects.get(pk=stream_id)
    assert stream.media_backend == "" and "422" in stream.media_error and not wowza.live_streams

    # A 503 on a repeatable call is retried in the client; the reconcile then provisions the stream.
    settings.WOWZA_BROADCAST_LOCATION = "us_west_oregon"
    wowza.failures.append(("GET", 503))
    with django_capture_on_commit_callbacks(execute=True):
        media_services.media_reconcile()
    stream.refresh_from_db()
    assert stream.media_backend == "wowza" and len(wowza.live_streams) == 1

    # A key rotation Wowza keeps failing is a 502.
    wowza.failures.extend([("PATCH", 503)] * 3)
    failed = client_for(artist).post(f"/api/livestreams/{stream_id}/stream-key/rotate/")
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "media_provider_error")


@pytest.mark.django_db
def test_pay_per_view_on_wowza_needs_token_auth(
    wowza, client_for, artist, settings, django_capture_on_commit_callbacks
):
    settings.WOWZA_TOKEN_AUTH_SECRET = ""
    response = stream_create(
        client_for(artist), django_capture_on_commit_callbacks, isPayPerView=True, ticketPrice="2.00"
    )
    assert response.status_code == 400
    assert "WOWZA_TOKEN_AUTH_SECRET" in response.json()["error"]["fields"]["isPayPerView"][0]


def test_wowza_configuration_is_checked_at_start(settings):
    settings.STREAMING_BACKEND = "wowza"
    settings.WOWZA_API_KEY = ""
    settings.WOWZA_API_URL = "http://wse.example:8087/v2/servers/_defaultServer_"
    settings.WOWZA_TOKEN_AUTH_SECRET = "xyz"
    text = " ".join(backend_configuration_errors())
    for expected in ("WOWZA_API_KEY", "Streaming Engine", "WOWZA_TOKEN_AUTH_SECRET"):
        assert expected in text
    settings.WOWZA_API_KEY = "a.b.c"
    settings.WOWZA_API_URL = "https://api.video.wowza.com/api/v2.0"
    settings.WOWZA_TOKEN_AUTH_SECRET = SECRET
    assert backend_configuration_errors() == []
