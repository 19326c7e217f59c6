"""The Agora backend through the platform's REST API, against AgoraDouble (agora_double.py: a local HTTP
stand-in written from Agora's documented REST APIs, whose pages its docstring lists; it checks HTTP Basic
auth and refuses malformed requests), reached through the backend's own HTTP client; replays in moto's S3.
Viewer tokens are checked by the double's own AccessToken2 reader and by Agora's npm package agora-token.
"""

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.tests.factories import UserFactory
from payments.tests.factories import paid_ticket_factory
from streams.media import services as media_services
from streams.media.backends import backend_configuration_errors
from streams.media.backends.agora import backend as agora
from streams.media.backends.agora.tokens import rtc_token
from streams.models import LiveStream, LiveStreamRecording, MediaProviderEvent

from .agora_double import AgoraDouble, token_read
from .media_support import stream_create

APP_ID = "970ca35de60c44645bbae8a215061b33"
CERTIFICATE = "5cfd2fd1755d40ecb72977518be15d3b"
BUCKET = "livestage-agora"
REGION = "us-west-2"


@pytest.fixture
def on_agora(settings, moto_url, monkeypatch, media_tasks_inline):
    double = AgoraDouble(
        app_id=APP_ID,
        certificate=CERTIFICATE,
        customer_id="cust-id",
        customer_secret="cust-secret",
        s3_endpoint=moto_url,
    ).start()
    settings.STREAMING_BACKEND = "agora"
    settings.AGORA_APP_ID = APP_ID
    settings.AGORA_APP_CERTIFICATE = CERTIFICATE
    settings.AGORA_CUSTOMER_ID = "cust-id"
    settings.AGORA_CUSTOMER_SECRET = "cust-secret"
    settings.AGORA_API_URL = double.url
    settings.AGORA_MEDIA_GATEWAY_REGION = "eu"
    settings.AGORA_INGEST_URL = "rtmp://rtls-ingress-prod-eu.agoramdn.com/live"
    settings.AGORA_MAX_ATTEMPTS = 3
    settings.AGORA_TIMEOUT_SECONDS = 1
    settings.AGORA_RECORDING_BUCKET = BUCKET
    settings.AGORA_RECORDING_REGION = REGION
    settings.AGORA_RECORDING_ACCESS_KEY = "AKIAAGORARECORDER"
    settings.AGORA_RECORDING_SECRET_KEY = "agora-recorder-secret"
    settings.AWS_ENDPOINT_URL = moto_url
    s3 = agora._s3()
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield double
    double.stop()


@pytest.mark.django_db
def test_pay_per_view_stream_on_agora_end_to_end(
    on_agora, client_for, artist, viewer, django_capture_on_commit_callbacks
):
    agora_api, capture = on_agora, django_capture_on_commit_callbacks
    created = stream_create(client_for(artist), capture, isPayPerView=True, ticketPrice="9.00", isRecordingEnabled=True)
    assert created.status_code == 201, created.content
    stream = LiveStream.objects.get(pk=created.json()["id"])
    channel = f"livestage-{stream.id}"
    # A Media Gateway key for the stream's channel and the publisher's uid, valid past the show's start.
    key = agora_api.keys[stream.media_resource["streamKey"]]
    assert (key["channel"], key["uid"], key["region"]) == (channel, str(agora.PUBLISHER_UID), "eu")
    assert int(key["createdAt"]) + key["expiresAfter"] > stream.scheduled_start_time.timestamp() + 23 * 3600

    # Ingest settings: Media Gateway's RTMP server and the key.
    ingest = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest/").json()
    assert ingest == {"url": "rtmp://rtls-ingress-prod-eu.agoramdn.com/live", "streamKey": key["streamKey"]}

    # Publishing is open: the encoder's host appears in the channel, the poll takes the stream live and
    # starts Cloud Recording (composite mode) into the bucket.
    with capture(execute=True):
        media_services.media_poll()
    assert LiveStream.objects.get(pk=stream.id).status == "scheduled"
    assert agora_api.encoder_connect(ingest["streamKey"])
    with capture(execute=True):
        media_services.media_poll()
        media_services.media_poll()  # seen twice: one publish, one recording
    stream.refresh_from_db()
    assert stream.status == "live" and stream.ingest.generation == 1
    assert MediaProviderEvent.objects.filter(backend="agora", event_type="publish_started").count() == 1
    (sid,) = agora_api.recordings
    assert stream.media_resource["recording"]["sid"] == sid and agora_api.recordings[sid]["mode"] == "mix"
    assert agora_api.recordings[sid]["clientRequest"]["storageConfig"]["bucket"] == BUCKET
    assert stream.recordings.get().status == "recording"

    # A ticket holder gets the Agora bundle with a subscriber token for this channel and viewer; without
    # a ticket, 402.
    refused = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "payment_required")
    paid_ticket_factory(stream=stream, user=viewer)
    playback = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/").json()
    assert {k: playback[k] for k in ("type", "appId", "channel", "uid")} == {
        "type": "agora",
        "appId": APP_ID,
        "channel": channel,
        "uid": agora.VIEWER_UID_OFFSET + viewer.id,
    }
    token = token_read(playback["token"], CERTIFICATE)
    assert token["services"][1] == {"privileges": {1: token["expire"]}, "channel": channel, "uid": str(playback["uid"])}
    expires_at = timezone.datetime.fromisoformat(playback["expiresAt"]).timestamp()
    assert abs(token["issueTs"] + token["expire"] - expires_at) <= 2
    assert token_read(playback["token"], "0" * 32) is None  # signed with the certificate, nothing else

    health = client_for(artist).get(f"/api/livestreams/{stream.id}/health/").json()
    assert (health["backend"], health["publishing"], health["ingest"]["recording"]) == ("agora", True, 5)

    # The artist ends it: the key is deleted first (the encoder cannot come back), then the publisher is
    # kicked out of the channel.
    with capture(execute=True):
        assert client_for(artist).post(f"/api/livestreams/{stream.id}/end/").status_code == 200
    assert key["streamKey"] not in agora_api.keys and agora.PUBLISHER_UID not in agora_api.hosts[channel]
    assert agora_api.log[-2:] == [
        ("DELETE", f"/eu/v1/projects/{APP_ID}/rtls/ingress/streamkeys/{key['streamKey']}"),
        ("POST", "/dev/v1/kicking-rule"),
    ]
    assert not agora_api.encoder_connect(ingest["streamKey"])

    # The next poll stops the recording; its playlist becomes the replay, served under the same access check.
    with capture(execute=True):
        media_services.media_poll()
        assert media_services.media_poll() == 0  # nothing left to ask about this stream
    stream.refresh_from_db()
    assert stream.media_resource["recording"] is None and not agora_api.recordings[sid]["running"]
    recording = LiveStreamRecording.objects.get(stream=stream)
    assert recording.status == "ready" and recording.file.name == f"livestage/{stream.id.hex}/{sid}_{channel}.m3u8"
    replay = client_for(viewer).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]
    playlist = client_for(viewer).get(replay["url"])
    assert playlist.status_code == 200, playlist.content
    segment_url = next(line for line in playlist.content.decode().splitlines() if line and not line.startswith("#"))
    assert "Signature=" in segment_url
    with urllib.request.urlopen(segment_url, timeout=10) as response:
        assert response.read() == b"agora-segment"
    assert client_for(UserFactory()).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]["url"] is None


@pytest.mark.django_db
def test_key_rotation_and_deletion_reach_agora(
    on_agora, client_for, artist, anon_client, django_capture_on_commit_callbacks
):
    stream = LiveStream.objects.get(
        pk=stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    )
    old = stream.media_resource["streamKey"]
    rotated = client_for(artist).post(f"/api/livestreams/{stream.id}/stream-key/rotate/")
    assert rotated.status_code == 200
    new = rotated.json()["streamKey"]
    assert new != old and old not in on_agora.keys and on_agora.keys[new]["channel"] == f"livestage-{stream.id}"
    assert not on_agora.encoder_connect(old) and on_agora.encoder_connect(new)

    # A free stream: anyone gets a token, for any uid (Agora picks one).
    playback = client_for(UserFactory()).get(f"/api/livestreams/{stream.id}/playback/")
    assert playback.status_code == 200 and playback.json()["type"] == "agora"
    anonymous = anon_client.get(f"/api/livestreams/{stream.id}/playback/").json()
    assert anonymous["uid"] == 0 and token_read(anonymous["token"], CERTIFICATE)["services"][1]["uid"] == ""

    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(artist).delete(f"/api/livestreams/{stream.id}/").status_code == 204
    assert new not in on_agora.keys
    assert on_agora.log[-1] == ("DELETE", f"/eu/v1/projects/{APP_ID}/rtls/ingress/streamkeys/{new}")


@pytest.mark.django_db
def test_agora_failures_are_retried_or_kept_and_a_malformed_request_is_refused(
    on_agora, client_for, artist, settings, django_capture_on_commit_callbacks
):
    # The double checks the credentials and the body: what the backend sends must pass both.
    url = f"{on_agora.url}/eu/v1/projects/{APP_ID}/rtls/ingress/streamkeys"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5)
    assert refused.value.code == 401
    request = urllib.request.Request(
        url,
        data=json.dumps({"settings": {"channel": "bad/channel", "uid": "100"}}).encode(),
        method="POST",
        headers={"Authorization": agora.client.authorization(), "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400

    # Creating a key is sent once: a 503 leaves the stream without a resource (never half-made), the
    # error kept on it; the reconcile provisions it later.
    on_agora.failures.append(("POST", 503))
    stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    stream = LiveStream.objects.get(pk=stream_id)
    assert stream.media_backend == "" and "503" in stream.media_error and not on_agora.keys
    assert client_for(artist).get(f"/api/livestreams/{stream_id}/ingest/").status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        media_services.media_reconcile()
    stream.refresh_from_db()
    assert stream.media_backend == "agora" and list(on_agora.keys) == [stream.media_resource["streamKey"]]

    # A timeout and a 429 on repeatable calls are retried with backoff (the poll's host list).
    on_agora.hang_seconds = settings.AGORA_TIMEOUT_SECONDS + 0.5
    on_agora.failures.extend([("GET", "timeout"), ("GET", 429)])
    assert agora.AgoraBackend().is_publishing(stream=stream) is False
    assert not on_agora.failures

    # A rotation Agora keeps failing is a 502; the stream keeps its key.
    on_agora.failures.extend([("DELETE", 503)] * settings.AGORA_MAX_ATTEMPTS)
    failed = client_for(artist).post(f"/api/livestreams/{stream_id}/stream-key/rotate/")
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "media_provider_error")
    assert LiveStream.objects.get(pk=stream_id).media_resource["streamKey"] in on_agora.keys


@pytest.mark.django_db
def test_recording_on_agora_needs_the_recording_bucket(
    on_agora, client_for, artist, settings, django_capture_on_commit_callbacks
):
    settings.AGORA_RECORDING_BUCKET = ""
    response = stream_create(client_for(artist), django_capture_on_commit_callbacks, isRecordingEnabled=True)
    assert response.status_code == 400
    assert "AGORA_RECORDING_BUCKET" in response.json()["error"]["fields"]["isRecordingEnabled"][0]


def test_agora_configuration_is_checked_at_start(settings):
    settings.STREAMING_BACKEND = "agora"
    settings.AGORA_APP_ID = ""
    settings.AGORA_APP_CERTIFICATE = "not-hex"
    settings.AGORA_CUSTOMER_ID = settings.AGORA_CUSTOMER_SECRET = ""
    settings.AGORA_MEDIA_GATEWAY_REGION = "mars"
    settings.AGORA_RECORDING_BUCKET = "bucket"
    settings.AGORA_RECORDING_REGION = settings.AGORA_RECORDING_ACCESS_KEY = settings.AGORA_RECORDING_SECRET_KEY = ""
    text = " ".join(backend_configuration_errors())
    for expected in (
        "AGORA_APP_ID",
        "AGORA_APP_CERTIFICATE must be 32 hexadecimal",
        "AGORA_CUSTOMER_ID",
        "AGORA_CUSTOMER_SECRET",
        "AGORA_MEDIA_GATEWAY_REGION",
        "AGORA_RECORDING_REGION, AGORA_RECORDING_ACCESS_KEY, AGORA_RECORDING_SECRET_KEY must be set too",
    ):
        assert expected in text
    settings.AGORA_APP_ID, settings.AGORA_APP_CERTIFICATE = APP_ID, CERTIFICATE
    settings.AGORA_CUSTOMER_ID, settings.AGORA_CUSTOMER_SECRET = "id", "secret"
    settings.AGORA_MEDIA_GATEWAY_REGION = "ap"
    settings.AGORA_RECORDING_REGION, settings.AGORA_RECORDING_ACCESS_KEY = "eu-west-1", "key"
    settings.AGORA_RECORDING_SECRET_KEY = "secret"
    assert backend_configuration_errors() == []


NODE_CHECK = """
const { AccessToken2, ServiceRtc } = require("agora-token/src/AccessToken2");
const [token, certificate] = process.argv.slice(1);
const text = (value) => (Buffer.isBuffer(value) ? value.toString() : value);
const parsed = new AccessToken2();
const parsedOk = parsed.from_string(token);
const rtc = parsedOk && parsed.getServices(1)[0];
if (!rtc) {
  console.log(JSON.stringify({ parsedOk, verified: false }));
  process.exit(0);
}
// Agora's builder, given the parsed fields, must make the very same token.
const rebuilt = new AccessToken2(text(parsed.appId), certificate, parsed.issueTs, parsed.expire);
rebuilt.salt = parsed.salt;
const service = new ServiceRtc(text(rtc.__channel_name), text(rtc.__uid));
for (const [privilege, expire] of Object.entries(rtc.__privileges)) service.add_privilege(Number(privilege), expire);
rebuilt.add_service(service);
console.log(JSON.stringify({
  parsedOk, verified: parsed.verifySignature(certificate), appId: text(parsed.appId), issueTs: parsed.issueTs,
  expire: parsed.expire, channel: text(rtc.__channel_name), uid: text(rtc.__uid), privileges: rtc.__privileges,
  rebuilt: rebuilt.build(),
}));
"""


def _node_check(token: str, certificate: str) -> dict:
    result = subprocess.run(
        ["node", "-e", NODE_CHECK, token, certificate],
        cwd=Path(django_settings.BASE_DIR),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _content(token: str) -> bytes:
    return zlib.decompress(base64.b64decode(token[3:]))


def test_viewer_tokens_verify_with_agoras_npm_package(settings):
    settings.AGORA_APP_ID, settings.AGORA_APP_CERTIFICATE = APP_ID, CERTIFICATE
    expires_at = timezone.now() + timedelta(seconds=300)
    token = rtc_token(channel="livestage-show", uid=1000042, expires_at=expires_at)
    checked = _node_check(token, CERTIFICATE)
    assert checked["parsedOk"] and checked["verified"]
    assert (checked["appId"], checked["channel"], checked["uid"]) == (APP_ID, "livestage-show", "1000042")
    assert checked["privileges"] == {"1": checked["expire"]}  # join only: a subscriber
    assert abs(checked["issueTs"] + checked["expire"] - expires_at.timestamp()) <= 2
    assert abs(checked["issueTs"] - time.time()) <= 5
    # Byte for byte what Agora's builder makes from these fields (compared before compression: Node's and
    # Python's zlib may deflate the same bytes differently).
    assert _content(checked["rebuilt"]) == _content(token)
    # Another certificate, or a token altered in transit, does not verify.
    assert not _node_check(token, "0" * 32)["verified"]
    assert not _node_check(token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:], CERTIFICATE)["verified"]


@pytest.mark.django_db
def test_the_watch_page_plays_agora_streams_with_the_agora_web_sdk(
    on_agora, client_for, artist, django_capture_on_commit_callbacks
):
    stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    page = client_for(artist).get(f"/streams/{stream_id}/").content.decode()
    assert "vendor/agora-rtc-sdk-ng/AgoraRTC_N-production.js" in page and "js/agora-player.js" in page
    assert '"player": "agora"' in page
    assert (Path(django_settings.BASE_DIR) / "node_modules/agora-rtc-sdk-ng/AgoraRTC_N-production.js").is_file()


@pytest.mark.django_db
def test_the_watch_page_of_an_hls_backend_loads_no_agora_sdk(client_for, artist, django_capture_on_commit_callbacks):
    stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    page = client_for(artist).get(f"/streams/{stream_id}/").content.decode()
    assert "agora" not in page.lower() and '"player": "hls"' in page
