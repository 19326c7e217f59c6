"""The IVS backend through the platform's REST API, against moto in server mode (started here on a free
port; AWS_ENDPOINT_URL points boto3 at it) for channels and S3, and botocore's Stubber for the IVS calls
moto does not implement (GetStream, GetStreamSession, StopStream, stream keys): the Stubber checks each
request against IVS's API model and answers with IVS's documented response shapes.

Events are delivered the way an EventBridge API destination does: one event per POST, the event JSON as
the body, the connection's API key in Authorization.
"""

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import UserFactory
from payments.tests.factories import paid_ticket_factory
from streams.media import services as media_services
from streams.media.backends import backend_configuration_errors
from streams.media.backends.ivs import backend as ivs
from streams.models import LiveStream, LiveStreamRecording

from .media_support import stream_create

REGION = "us-west-2"
ACCOUNT = "123456789012"
BUCKET = "livestage-recordings"
KEY_PAIR_ARN = f"arn:aws:ivs:{REGION}:{ACCOUNT}:playback-key/KeyPair1234"
RECORDING_CONFIG_ARN = f"arn:aws:ivs:{REGION}:{ACCOUNT}:recording-configuration/Rec1234"
EVENTS_SECRET = "ivs-events-test-secret"
SESSION = "st-1AbCdEfGhIjKlMnOpQrStUv"  # an IVS stream id (26 characters)


@pytest.fixture
def playback_key(tmp_path):
    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "ivs-playback.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key, path


@pytest.fixture
def on_ivs(settings, moto_url, monkeypatch, playback_key, media_tasks_inline):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings.STREAMING_BACKEND = "ivs"
    settings.AWS_REGION = REGION
    settings.AWS_ENDPOINT_URL = moto_url
    settings.IVS_PLAYBACK_KEY_PAIR_ARN = KEY_PAIR_ARN
    settings.IVS_PLAYBACK_PRIVATE_KEY = str(playback_key[1])
    settings.IVS_RECORDING_CONFIGURATION_ARN = RECORDING_CONFIG_ARN
    settings.IVS_RECORDING_BUCKET = BUCKET
    settings.IVS_EVENTS_SECRET = EVENTS_SECRET
    settings.IVS_MAX_ATTEMPTS = 2
    s3 = ivs.s3_client()
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield settings


def _event(detail_type: str, channel_arn: str, detail: dict, event_id: str) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": event_id,
            "detail-type": detail_type,
            "source": "aws.ivs",
            "account": ACCOUNT,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [channel_arn],
            "detail": detail,
        }
    )


def _deliver(body: str, secret: str | None = EVENTS_SECRET):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    return Client(enforce_csrf_checks=True).post(
        "/api/media/provider-events", body, content_type="application/json", **headers
    )


@pytest.mark.django_db
def test_pay_per_view_stream_on_ivs_end_to_end(
    on_ivs, client_for, artist, viewer, playback_key, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    # The artist creates a pay-per-view stream with recording: IVS gets a private, recorded channel.
    created = stream_create(client_for(artist), capture, isPayPerView=True, ticketPrice="9.00", isRecordingEnabled=True)
    assert created.status_code == 201, created.content
    stream = LiveStream.objects.get(pk=created.json()["id"])
    arn = stream.media_resource["id"]
    channel = ivs.ivs_client().get_channel(arn=arn)["channel"]
    assert (channel["name"], channel["authorized"], channel["latencyMode"], channel["recordingConfigurationArn"]) == (
        f"livestage-{stream.id}",
        True,
        "NORMAL",
        RECORDING_CONFIG_ARN,
    )

    # Ingest settings: RTMPS at the channel's ingest endpoint, with the channel's IVS key.
    ingest = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest/").json()
    assert ingest["url"] == f"rtmps://{channel['ingestEndpoint']}:443/app/"
    assert ingest["streamKey"] == stream.media_resource["streamKey"] and ingest["streamKey"].startswith("sk_")
    assert ingest["streamKey"] != stream.stream_key

    # IVS reports the stream live (EventBridge), once even when redelivered; a forged event is refused.
    start = _event("IVS Stream State Change", arn, {"event_name": "Stream Start", "stream_id": SESSION}, "ev-start")
    assert _deliver(start, secret="wrong").status_code == 403
    assert _deliver(start, secret=None).status_code == 403
    assert LiveStream.objects.get(pk=stream.id).status == "scheduled"
    with capture(execute=True):
        assert _deliver(start).status_code == 204
        assert _deliver(start).status_code == 204
    stream.refresh_from_db()
    assert stream.status == "live"
    assert stream.recordings.get().status == "recording"
    malformed = _deliver(json.dumps({"id": "x", "source": "aws.ivs"}))
    assert malformed.status_code == 400 and "body" in malformed.json()["error"]["fields"]

    # A ticket holder gets a playback URL with an ES384 token for this channel and this viewer.
    refused = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "payment_required")
    paid_ticket_factory(stream=stream, user=viewer)
    playback = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/").json()
    url, _, token = playback["url"].partition("?token=")
    assert url == channel["playbackUrl"] and playback["type"] == "hls"
    claims = jwt.decode(token, playback_key[0].public_key(), algorithms=["ES384"])
    assert claims["aws:channel-arn"] == arn and claims["aws:viewer-id"] == str(viewer.id)
    assert abs(claims["exp"] - (timezone.now() + timedelta(seconds=on_ivs.PLAYBACK_TOKEN_TTL_SECONDS)).timestamp()) < 5
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, ec.generate_private_key(ec.SECP384R1()).public_key(), algorithms=["ES384"])

    # Health from GetStream and GetStreamSession (moto lacks them: the Stubber checks the requests).
    started = datetime.now(UTC) - timedelta(seconds=90)
    with Stubber(ivs.ivs_client()) as stub:
        stub.add_response(
            "get_stream",
            {
                "stream": {
                    "channelArn": arn,
                    "streamId": SESSION,
                    "playbackUrl": channel["playbackUrl"],
                    "startTime": started,
                    "state": "LIVE",
                    "health": "HEALTHY",
                    "viewerCount": 3,
                }
            },
            {"channelArn": arn},
        )
        stub.add_response(
            "get_stream_session",
            {
                "streamSession": {
                    "streamId": SESSION,
                    "startTime": started,
                    "ingestConfiguration": {
                        "video": {
                            "codec": "avc1.64001F",
                            "targetBitrate": 4500000,
                            "targetFramerate": 30,
                            "videoWidth": 1920,
                            "videoHeight": 1080,
                            "avcProfile": "High",
                        },
                        "audio": {"codec": "mp4a.40.2", "targetBitrate": 160000, "sampleRate": 48000, "channels": 2},
                    },
                }
            },
            {"channelArn": arn, "streamId": SESSION},
        )
        health = client_for(artist).get(f"/api/livestreams/{stream.id}/health/").json()
        stub.assert_no_pending_responses()
    assert (health["backend"], health["publishing"], health["mediaServerReachable"]) == ("ivs", True, True)
    assert {k: health["ingest"][k] for k in ("bitrateKbps", "fps", "resolution", "health", "viewerCount")} == {
        "bitrateKbps": 4500,
        "fps": 30,
        "resolution": "1920x1080",
        "health": "HEALTHY",
        "viewerCount": 3,
    }

    # The artist ends it: the key is deleted first (OBS would reconnect with it), then the stream stopped.
    with Stubber(ivs.ivs_client()) as stub:
        stub.add_response("delete_stream_key", {}, {"arn": stream.media_resource["streamKeyArn"]})
        stub.add_response("stop_stream", {}, {"channelArn": arn})
        with capture(execute=True):
            ended = client_for(artist).post(f"/api/livestreams/{stream.id}/end/")
        stub.assert_no_pending_responses()
    assert ended.status_code == 200 and ended.json()["status"] == "ended"

    # IVS wrote the recording to S3 and says so; the replay is served under the same access check.
    prefix = f"ivs/v1/{ACCOUNT}/{arn.rsplit('/', 1)[1]}/2026/12/1/7/0/RecId123"
    s3 = ivs.s3_client()
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{prefix}/media/hls/master.m3u8",
        Body=b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=4500000,RESOLUTION=1920x1080\n1080p30/playlist.m3u8\n",
    )
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{prefix}/media/hls/1080p30/playlist.m3u8",
        Body=b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n1.ts\n#EXT-X-ENDLIST\n",
    )
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/media/hls/1080p30/1.ts", Body=b"segment-bytes")
    done = _event("IVS Stream State Change", arn, {"event_name": "Stream End", "stream_id": SESSION}, "ev-end")
    recorded = _event(
        "IVS Recording State Change",
        arn,
        {
            "channel_name": f"livestage-{stream.id}",
            "stream_id": SESSION,
            "recording_status": "Recording End",
            "recording_status_reason": "",
            "recording_s3_bucket_name": BUCKET,
            "recording_s3_key_prefix": prefix,
            "recording_duration_ms": 5400000,
            "recording_session_id": "RecId123",
        },
        "ev-recorded",
    )
    with capture(execute=True):
        for body in (done, recorded, recorded):
            assert _deliver(body).status_code == 204
    recording = LiveStreamRecording.objects.get(stream=stream)
    assert (recording.status, recording.duration_seconds) == ("ready", 5400.0)

    replay = client_for(viewer).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]
    master = client_for(viewer).get(replay["url"])
    assert master.status_code == 200, master.content
    variant_url = master.content.decode().splitlines()[-1]
    assert variant_url.startswith("http://testserver/media/replays/") and variant_url.endswith("1080p30/playlist.m3u8")
    variant = client_for(viewer).get(variant_url).content.decode()
    segment_url = next(line for line in variant.splitlines() if line and not line.startswith("#"))
    assert "X-Amz-Signature=" in segment_url or "Signature=" in segment_url
    with urllib.request.urlopen(segment_url, timeout=10) as response:
        assert response.read() == b"segment-bytes"
    # A token for one recording opens nothing outside its folder, and nothing once altered.
    token = replay["url"].split("/media/replays/")[1].split("/")[0]
    assert client_for(viewer).get(f"/media/replays/{token}/ivs/v1/other/media/hls/master.m3u8").status_code == 403
    assert client_for(viewer).get(replay["url"].replace(token, token[:-2] + "xx")).status_code == 403
    # Without a ticket: the recording is listed, without its URL.
    assert client_for(UserFactory()).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]["url"] is None


@pytest.mark.django_db
def test_a_free_stream_is_public_and_deleting_it_deletes_its_channel(
    on_ivs, client_for, artist, anon_client, django_capture_on_commit_callbacks
):
    on_ivs.HLS_LOW_LATENCY = True
    stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    stream = LiveStream.objects.get(pk=stream_id)
    channel = ivs.ivs_client().get_channel(arn=stream.media_resource["id"])["channel"]
    assert (channel["authorized"], channel["latencyMode"], channel["recordingConfigurationArn"]) == (False, "LOW", "")
    playback = anon_client.get(f"/api/livestreams/{stream_id}/playback/").json()
    assert playback["url"] == channel["playbackUrl"]  # a public channel needs no token

    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(artist).delete(f"/api/livestreams/{stream_id}/").status_code == 204
    names = [c["name"] for c in ivs.ivs_client().list_channels()["channels"]]
    assert f"livestage-{stream_id}" not in names


@pytest.mark.django_db
def test_pay_per_view_without_a_playback_key_pair_is_refused_naming_the_variables(
    on_ivs, client_for, artist, django_capture_on_commit_callbacks
):
    on_ivs.IVS_PLAYBACK_KEY_PAIR_ARN = on_ivs.IVS_PLAYBACK_PRIVATE_KEY = ""
    response = stream_create(
        client_for(artist), django_capture_on_commit_callbacks, isPayPerView=True, ticketPrice="5.00"
    )
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["isPayPerView"][0]
    assert "IVS_PLAYBACK_KEY_PAIR_ARN" in message and "IVS_PLAYBACK_PRIVATE_KEY" in message
    assert not LiveStream.objects.exists()
    # A free stream still works.
    assert stream_create(client_for(artist), django_capture_on_commit_callbacks).status_code == 201


@pytest.mark.django_db
def test_an_ivs_outage_at_creation_is_retried_and_never_makes_two_channels(
    on_ivs, client_for, artist, django_capture_on_commit_callbacks
):
    # CreateChannel answers 500 (the client that makes it does not retry it: it is not idempotent).
    with Stubber(ivs.ivs_client(retries=False)) as stub:
        stub.add_client_error("create_channel", "InternalServerException", "try again", http_status_code=500)
        stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
        stub.assert_no_pending_responses()
    stream = LiveStream.objects.get(pk=stream_id)
    assert stream.media_backend == "" and "InternalServerException" in stream.media_error
    ingest = client_for(artist).get(f"/api/livestreams/{stream_id}/ingest/")
    assert (ingest.status_code, ingest.json()["error"]["code"]) == (409, "media_not_ready")

    with django_capture_on_commit_callbacks(execute=True):
        assert media_services.media_reconcile() >= 1
    stream.refresh_from_db()
    assert stream.media_backend == "ivs"
    channel = ivs.ivs_client().get_channel(arn=stream.media_resource["id"])["channel"]

    # A provisioning interrupted after CreateChannel (nothing stored) finds the channel by its name and
    # reads its key, instead of creating a second channel (the Stubber would refuse a create_channel).
    key_arn = stream.media_resource["streamKeyArn"]
    with Stubber(ivs.ivs_client()) as stub:
        stub.add_response(
            "list_channels",
            {"channels": [{k: channel[k] for k in ("arn", "name", "authorized", "latencyMode")}]},
            {"filterByName": f"livestage-{stream_id}"},
        )
        stub.add_response("get_channel", {"channel": channel}, {"arn": channel["arn"]})
        stub.add_response(
            "list_stream_keys",
            {"streamKeys": [{"arn": key_arn, "channelArn": channel["arn"]}]},
            {"channelArn": channel["arn"]},
        )
        stub.add_response(
            "get_stream_key",
            {"streamKey": {"arn": key_arn, "channelArn": channel["arn"], "value": stream.media_resource["streamKey"]}},
            {"arn": key_arn},
        )
        again = ivs.IvsBackend().stream_provision(stream=stream, resource={})
        stub.assert_no_pending_responses()
    assert again == stream.media_resource


@pytest.mark.django_db
def test_key_rotation_replaces_the_ivs_key_and_a_failure_is_a_502(
    on_ivs, client_for, artist, django_capture_on_commit_callbacks
):
    stream = LiveStream.objects.get(
        pk=stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    )
    arn, old = stream.media_resource["id"], stream.media_resource["streamKeyArn"]
    new = {
        "arn": f"arn:aws:ivs:{REGION}:{ACCOUNT}:stream-key/NewKey1234",
        "channelArn": arn,
        "value": "sk_us-west-2_new",
    }
    with Stubber(ivs.ivs_client()) as stub:
        stub.add_response("delete_stream_key", {}, {"arn": old})
        stub.add_response("create_stream_key", {"streamKey": new}, {"channelArn": arn})
        stub.add_client_error("delete_stream_key", "ThrottlingException", "slow down", http_status_code=429)
        rotated = client_for(artist).post(f"/api/livestreams/{stream.id}/stream-key/rotate/")
        failed = client_for(artist).post(f"/api/livestreams/{stream.id}/stream-key/rotate/")
    assert rotated.json() == {"streamKey": "sk_us-west-2_new"}
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "media_provider_error")
    stream.refresh_from_db()
    assert stream.media_resource["streamKeyArn"] == new["arn"]


def test_ivs_configuration_is_checked_at_start(settings, monkeypatch, playback_key, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings.STREAMING_BACKEND = "ivs"
    settings.AWS_REGION = ""
    settings.IVS_EVENTS_SECRET = ""
    settings.IVS_PLAYBACK_KEY_PAIR_ARN = KEY_PAIR_ARN
    settings.IVS_PLAYBACK_PRIVATE_KEY = ""
    text = " ".join(backend_configuration_errors())
    for variable in ("AWS_REGION", "IVS_EVENTS_SECRET", "IVS_PLAYBACK_PRIVATE_KEY"):
        assert variable in text
    settings.AWS_REGION = REGION
    assert "AWS_ACCESS_KEY_ID" in " ".join(backend_configuration_errors())

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    wrong_curve = tmp_path / "p256.pem"
    wrong_curve.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.IVS_PLAYBACK_PRIVATE_KEY = str(wrong_curve)
    settings.IVS_EVENTS_SECRET = EVENTS_SECRET
    (error,) = backend_configuration_errors()
    assert error.startswith("IVS_PLAYBACK_PRIVATE_KEY is unusable") and "P-384" in error
    settings.IVS_PLAYBACK_PRIVATE_KEY = playback_key[1].read_text()  # the PEM itself works as well as its path
    assert backend_configuration_errors() == []


@pytest.mark.django_db
def test_the_one_channel_of_aws_ivs_channel_arn_serves_every_stream_and_is_never_deleted(
    on_ivs, client_for, artist, django_capture_on_commit_callbacks
):
    created = ivs.ivs_client().create_channel(name="operators-channel", authorized=False)
    channel, key = created["channel"], created["streamKey"]
    on_ivs.AWS_IVS_CHANNEL_ARN = channel["arn"]

    def stubbed_lookup(stub):
        stub.add_response("get_channel", {"channel": channel}, {"arn": channel["arn"]})
        stub.add_response(
            "list_stream_keys",
            {"streamKeys": [{"arn": key["arn"], "channelArn": channel["arn"]}]},
            {"channelArn": channel["arn"]},
        )
        stub.add_response("get_stream_key", {"streamKey": key}, {"arn": key["arn"]})

    with Stubber(ivs.ivs_client()) as stub:
        stubbed_lookup(stub)
        stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
        stub.assert_no_pending_responses()
    ingest = client_for(artist).get(f"/api/livestreams/{stream_id}/ingest/").json()
    assert ingest["streamKey"] == key["value"]

    # A pay-per-view stream needs the channel to be private: the provider refusal is kept on the stream.
    with Stubber(ivs.ivs_client()) as stub:
        stub.add_response("get_channel", {"channel": channel}, {"arn": channel["arn"]})
        ppv_id = stream_create(
            client_for(artist), django_capture_on_commit_callbacks, isPayPerView=True, ticketPrice="3.00"
        ).json()["id"]
    ppv = LiveStream.objects.get(pk=ppv_id)
    assert ppv.media_backend == "" and "AWS_IVS_CHANNEL_ARN" in ppv.media_error

    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(artist).delete(f"/api/livestreams/{stream_id}/").status_code == 204
    assert ivs.ivs_client().get_channel(arn=channel["arn"])["channel"]["name"] == "operators-channel"


@pytest.mark.django_db
def test_a_publish_ivs_no_longer_has_is_closed_and_a_failed_recording_is_marked(
    on_ivs, client_for, artist, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    stream_id = stream_create(client_for(artist), capture, isRecordingEnabled=True).json()["id"]
    stream = LiveStream.objects.get(pk=stream_id)
    arn = stream.media_resource["id"]
    with capture(execute=True):
        start = _event("IVS Stream State Change", arn, {"event_name": "Stream Start", "stream_id": SESSION}, "ev-s")
        assert _deliver(start).status_code == 204
    assert LiveStream.objects.get(pk=stream_id).status == "live"

    # The "Stream End" event was lost: the reconcile asks GetStream, which says the channel is offline.
    with Stubber(ivs.ivs_client()) as stub:
        stub.add_client_error("get_stream", "ChannelNotBroadcasting", "offline", http_status_code=404)
        with capture(execute=True):
            assert media_services.ingest_reconcile() == 1
        stub.assert_no_pending_responses()
    stream.refresh_from_db()
    assert stream.status == "ended" and stream.ingest.is_publishing is False

    failed = _event(
        "IVS Recording State Change",
        arn,
        {
            "stream_id": SESSION,
            "recording_status": "Recording End Failure",
            "recording_status_reason": "InternalServerException",
        },
        "ev-f",
    )
    with capture(execute=True):
        assert _deliver(failed).status_code == 204
    assert LiveStreamRecording.objects.get(stream=stream).status == "failed"
