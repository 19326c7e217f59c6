"""The Agora backend: Media Gateway for ingest, channel management for state, Cloud Recording for replays.

A stream is an Agora channel named `livestage-<stream id>`. Its resource holds the channel, a Media Gateway
stream key bound to the channel and PUBLISHER_UID (the host the encoder becomes), the key's region and
expiry, and while Cloud Recording records it, the recording session (resourceId, sid, uid). Agora sends
nothing the platform polls for here: media_poll asks which hosts are in the channel, starts a recording
when the show goes live and stops it when the show has ended (the stop's file list names the replay).

REST references (each call's shape is what agora_double.py checks): Media Gateway
https://docs.agora.io/en/api-reference/api-ref/rtmp-gateway, channel management
https://docs.agora.io/en/api-reference/api-ref/rtc, Cloud Recording
https://docs.agora.io/en/cloud-recording/rest-api/overview.
"""

import logging
import re
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .. import MediaEvent, MediaProviderError, Rendition, StreamingBackend, s3
from . import client, tokens
from .client import AgoraNotFound

logger = logging.getLogger(__name__)

NAME_PREFIX = "livestage-"
PUBLISHER_UID = 100  # the encoder's host in the channel (Media Gateway joins with it)
RECORDER_UID = 101  # Cloud Recording's uid in the channel
VIEWER_UID_OFFSET = 1_000_000  # a signed-in viewer joins as this + their user id
HEX32_RE = re.compile(r"^[0-9a-fA-F]{32}$")
REGIONS = {"na", "eu", "ap", "cn"}
RECORDING_DAY = 24 * 3600  # Agora's longest token privilege: the recorder's token
# Amazon S3 regions as Cloud Recording's storageConfig numbers them (vendor 1):
# https://docs.agora.io/en/cloud-recording/reference/region-vendor
S3_REGIONS = {
    "us-east-1": 0, "us-east-2": 1, "us-west-1": 2, "us-west-2": 3, "eu-west-1": 4, "eu-west-2": 5,
    "eu-west-3": 6, "eu-central-1": 7, "ap-southeast-1": 8, "ap-southeast-2": 9, "ap-northeast-1": 10,
    "ap-northeast-2": 11, "sa-east-1": 12, "ca-central-1": 13, "ap-south-1": 14, "cn-north-1": 15,
    "cn-northwest-1": 16, "af-south-1": 18, "ap-east-1": 19, "ap-northeast-3": 20, "eu-north-1": 21,
    "me-south-1": 22, "ap-southeast-3": 24, "eu-south-1": 25,
}  # fmt: skip
RECORDING_VARIABLES = (
    "AGORA_RECORDING_BUCKET",
    "AGORA_RECORDING_REGION",
    "AGORA_RECORDING_ACCESS_KEY",
    "AGORA_RECORDING_SECRET_KEY",
)
RECORDING_NEEDS = "Recording on Agora needs Cloud Recording's bucket: set " + ", ".join(RECORDING_VARIABLES) + "."


def _mg(path: str, region: str | None = None) -> str:
    """A Media Gateway path: /{region}/v1/projects/{appId}/rtls/ingress/..."""
    return f"/{region or settings.AGORA_MEDIA_GATEWAY_REGION}/v1/projects/{settings.AGORA_APP_ID}/rtls/ingress{path}"


def _cr(path: str) -> str:
    """A Cloud Recording path: /v1/apps/{appid}/cloud_recording/..."""
    return f"/v1/apps/{settings.AGORA_APP_ID}/cloud_recording{path}"


def _s3():
    return s3.s3_client(
        region=settings.AGORA_RECORDING_REGION,
        endpoint=settings.AWS_ENDPOINT_URL,
        attempts=settings.AGORA_MAX_ATTEMPTS,
        access_key=settings.AGORA_RECORDING_ACCESS_KEY,
        secret_key=settings.AGORA_RECORDING_SECRET_KEY,
    )


def _mixed_video(stream) -> dict:
    """The composite recording's picture: the stream's resolution (at most 1080p), Agora's bitrate for it."""
    width, _, height = str(stream.stream_settings.get("resolution") or "1280x720").partition("x")
    width, height = int(width), int(height)
    if width * height > 1920 * 1080:
        width, height = 1920, 1080
    bitrate = 800 if height <= 360 else 2260 if height <= 720 else 3420
    return {"width": width, "height": height, "fps": 30, "bitrate": bitrate, "mixedVideoLayout": 0}


class AgoraBackend(StreamingBackend):
    name = "agora"
    provisions = True
    records_itself = True
    polls = True
    player = "agora"

    # --- configuration and provisioning -----------------------------------------------------
    @classmethod
    def configuration_errors(cls) -> list[str]:
        errors = []
        for variable, what in (
            ("AGORA_APP_ID", "the project's App ID"),
            ("AGORA_APP_CERTIFICATE", "the project's primary App Certificate: it signs the viewers' tokens"),
        ):
            value = getattr(settings, variable)
            if not value:
                errors.append(f"{variable} ({what}) must be set for STREAMING_BACKEND=agora.")
            elif not HEX32_RE.match(value):
                errors.append(f"{variable} must be 32 hexadecimal characters, as Agora Console shows it.")
        for variable in ("AGORA_CUSTOMER_ID", "AGORA_CUSTOMER_SECRET"):
            if not getattr(settings, variable):
                errors.append(
                    f"{variable} (a RESTful API customer ID and secret, Agora Console > RESTful API) must be set "
                    "for STREAMING_BACKEND=agora."
                )
        if not settings.AGORA_API_URL.startswith(("https://", "http://")):
            errors.append("AGORA_API_URL must be the REST API's base URL, e.g. https://api.agora.io.")
        if settings.AGORA_MEDIA_GATEWAY_REGION not in REGIONS:
            errors.append("AGORA_MEDIA_GATEWAY_REGION must be one of Media Gateway's regions: na, eu, ap, cn.")
        given = [variable for variable in RECORDING_VARIABLES if getattr(settings, variable)]
        if given and len(given) < len(RECORDING_VARIABLES):
            missing = ", ".join(v for v in RECORDING_VARIABLES if v not in given)
            errors.append(f"{missing} must be set too: Cloud Recording's storage needs all four of them.")
        if settings.AGORA_RECORDING_REGION and settings.AGORA_RECORDING_REGION not in S3_REGIONS:
            errors.append(
                "AGORA_RECORDING_REGION must be an Amazon S3 region Cloud Recording writes to (us-east-1, ...)."
            )
        return errors

    def stream_errors(self, *, stream) -> dict[str, list[str]]:
        if stream.is_recording_enabled and not settings.AGORA_RECORDING_BUCKET:
            return {"is_recording_enabled": [RECORDING_NEEDS]}
        return {}

    def stream_provision(self, *, stream, resource: dict) -> dict:
        channel = f"{NAME_PREFIX}{stream.id}"
        valid_until = int(stream.scheduled_start_time.timestamp()) + settings.AGORA_STREAM_KEY_VALID_SECONDS
        kept = {"channel": channel, "recording": resource.get("recording")}
        if resource.get("streamKey"):
            try:  # the key Agora still has, valid long enough (a show moved later gets a new one)
                client.request("GET", _mg(f"/streamkeys/{resource['streamKey']}", resource.get("region")))
                if resource.get("keyExpiresAt", 0) >= valid_until:
                    return {**resource, **kept, "id": channel}
                self._key_delete(resource)
            except AgoraNotFound:
                pass
        key = self._key_create(channel, valid_until)
        return {"id": channel, **kept, **key, "region": settings.AGORA_MEDIA_GATEWAY_REGION}

    def _key_create(self, channel: str, valid_until: int) -> dict:
        # Sent once (a retry would make a second key); a key an interrupted call made expires unused.
        seconds = max(60, valid_until - int(time.time()))
        body = {"settings": {"channel": channel, "uid": str(PUBLISHER_UID), "expiresAfter": seconds}}
        data = client.request("POST", _mg("/streamkeys"), body, repeatable=False)["data"]
        created = int(data.get("createdAt") or time.time())
        return {"streamKey": data["streamKey"], "keyExpiresAt": created + int(data.get("expiresAfter") or seconds)}

    def _key_delete(self, resource: dict) -> None:
        try:
            client.request("DELETE", _mg(f"/streamkeys/{resource['streamKey']}", resource.get("region")))
        except AgoraNotFound:
            pass

    def stream_deprovision(self, *, resource: dict) -> None:
        if resource.get("recording"):
            self._recording_stop_call(resource)
        if resource.get("streamKey"):
            self._key_delete(resource)

    def stream_key_rotate(self, *, stream, resource: dict) -> dict:
        # Media Gateway keys cannot change: the old one is deleted (so a leaked key stops working), a new one made.
        self._key_delete(resource)
        valid_until = int(stream.scheduled_start_time.timestamp()) + settings.AGORA_STREAM_KEY_VALID_SECONDS
        key = self._key_create(resource["channel"], valid_until)
        return {**resource, **key, "region": settings.AGORA_MEDIA_GATEWAY_REGION}

    # --- ingest and state -------------------------------------------------------------------
    def ingest_info(self, *, stream) -> dict:
        return {"url": settings.AGORA_INGEST_URL, "streamKey": stream.media_resource["streamKey"]}

    def _hosts(self, channel: str) -> list[int]:
        """The hosts (broadcasters) in the channel now; none when the channel does not exist."""
        path = f"/dev/v1/channel/user/{settings.AGORA_APP_ID}/{channel}/hosts_only"
        data = client.request("GET", path).get("data") or {}
        return [int(uid) for uid in data.get("broadcasters") or []] if data.get("channel_exist") else []

    def is_publishing(self, *, stream) -> bool | None:
        if not stream.media_resource.get("channel"):
            return None
        try:
            return PUBLISHER_UID in self._hosts(stream.media_resource["channel"])
        except MediaProviderError as exc:
            logger.warning("Agora state of %s unreadable: %s", stream.id, exc)
            return None

    def publisher_drop(self, *, stream) -> None:
        # Deleting the key keeps the encoder from reconnecting but leaves its push running (Media Gateway's
        # documentation): then the publisher is kicked out of the channel.
        resource = stream.media_resource
        if not resource.get("streamKey"):
            return
        try:
            self._key_delete(resource)
            rule = {
                "appid": settings.AGORA_APP_ID,
                "cname": resource["channel"],
                "uid": PUBLISHER_UID,
                "time_in_seconds": 600,
                "privileges": ["join_channel"],
            }
            client.request("POST", "/dev/v1/kicking-rule", rule, repeatable=True)
        except MediaProviderError as exc:
            logger.warning("Agora: dropping the encoder of %s failed: %s", stream.id, exc)

    def health(self, *, stream) -> dict:
        resource = stream.media_resource
        try:
            publishing = PUBLISHER_UID in self._hosts(resource["channel"]) if resource.get("channel") else False
            recording = self._recording_status(resource) if publishing and resource.get("recording") else None
        except MediaProviderError as exc:
            logger.warning("Agora health of %s unreadable: %s", stream.id, exc)
            return {"mediaServerReachable": False, "publishing": False, "ingest": None}
        if not publishing:
            return {"mediaServerReachable": True, "publishing": False, "ingest": None}
        ingest = dict.fromkeys(
            (
                "bitrateKbps",
                "fps",
                "width",
                "height",
                "resolution",
                "videoCodec",
                "audioCodec",
                "keyframeIntervalSeconds",
            )
        )
        ingest["recording"] = recording  # Cloud Recording's own status of the session (query)
        return {"mediaServerReachable": True, "publishing": True, "ingest": ingest}

    def renditions(self, *, stream) -> list[Rendition]:
        return []  # viewers get the publisher's stream (Agora adapts it per viewer)

    def stream_poll(self, *, stream) -> list[MediaEvent]:
        """What Agora says about the stream now: the encoder's host joining and leaving the channel, a
        recording started when the show is live and stopped once it has ended."""
        resource = stream.media_resource
        channel = resource["channel"]
        events: list[MediaEvent] = []
        publishing = False
        opens_at = stream.scheduled_start_time - timedelta(seconds=settings.STREAM_PUBLISH_OPENS_SECONDS)
        if stream.status in ("scheduled", "live") and timezone.now() >= opens_at:
            publishing = PUBLISHER_UID in self._hosts(channel)
            kind = "publish_started" if publishing else "publish_ended"
            # A poll has no event id: each observation is new, and the services ignore repeats.
            events.append(MediaEvent(id=f"poll-{uuid.uuid4()}", kind=kind, resource_id=channel, session="agora"))
        recording = resource.get("recording")
        if stream.is_recording_enabled and settings.AGORA_RECORDING_BUCKET:
            goes_live = stream.status == "live" or (stream.status == "scheduled" and stream.go_live_on_publish)
            if recording is None and publishing and goes_live:
                events.append(self._recording_start(stream, channel))
            elif recording and stream.status not in ("scheduled", "live"):
                events.append(self._recording_stop(stream, resource))
        return events

    # --- Cloud Recording --------------------------------------------------------------------
    def _recording_start(self, stream, channel: str) -> MediaEvent:
        """acquire + start (composite mode, HLS to the bucket under livestage/<stream id>/)."""
        uid = str(RECORDER_UID)
        acquired = client.request(
            "POST", _cr("/acquire"), {"cname": channel, "uid": uid, "clientRequest": {"scene": 0}}, repeatable=True
        )
        expires_at = timezone.now() + timedelta(seconds=RECORDING_DAY)
        body = {
            "cname": channel,
            "uid": uid,
            "clientRequest": {
                "token": tokens.rtc_token(channel=channel, uid=RECORDER_UID, expires_at=expires_at),
                "recordingConfig": {
                    "channelType": 1,  # live broadcasting
                    "streamTypes": 2,  # audio and video
                    # Agora ends a recording idle this long: longer than the platform's reconnect window.
                    "maxIdleTime": max(30, int(settings.STREAM_RECONNECT_WINDOW_SECONDS) + 30),
                    "subscribeUidGroup": 0,
                    "transcodingConfig": _mixed_video(stream),
                },
                "recordingFileConfig": {"avFileType": ["hls"]},
                "storageConfig": {
                    "vendor": 1,  # Amazon S3
                    "region": S3_REGIONS[settings.AGORA_RECORDING_REGION],
                    "bucket": settings.AGORA_RECORDING_BUCKET,
                    "accessKey": settings.AGORA_RECORDING_ACCESS_KEY,
                    "secretKey": settings.AGORA_RECORDING_SECRET_KEY,
                    "fileNamePrefix": ["livestage", stream.id.hex],
                },
            },
        }
        # Sent once: a repeated start would record twice (a failed one is tried again at the next poll).
        started = client.request(
            "POST", _cr(f"/resourceid/{acquired['resourceId']}/mode/mix/start"), body, repeatable=False
        )
        session = {"resourceId": started["resourceId"], "sid": started["sid"], "uid": uid, "startedAt": time.time()}
        logger.info("stream %s: Agora Cloud Recording %s started", stream.id, started["sid"])
        return MediaEvent(
            id=f"recording-start-{started['sid']}",
            kind="recording_started",
            resource_id=channel,
            resource={"recording": session},
        )

    def _recording_status(self, resource: dict) -> int | None:
        """Cloud Recording's status code of the session (query); None when it has ended."""
        session = resource["recording"]
        try:
            answer = client.request(
                "GET", _cr(f"/resourceid/{session['resourceId']}/sid/{session['sid']}/mode/mix/query")
            )
        except AgoraNotFound:
            return None
        return (answer.get("serverResponse") or {}).get("status")

    def _recording_stop_call(self, resource: dict) -> dict | None:
        """stop; None when Agora had already ended the session (idle longer than maxIdleTime)."""
        session = resource["recording"]
        path = _cr(f"/resourceid/{session['resourceId']}/sid/{session['sid']}/mode/mix/stop")
        body = {"cname": resource["channel"], "uid": session["uid"], "clientRequest": {}}
        try:
            return client.request("POST", path, body, repeatable=True)
        except AgoraNotFound:
            return None

    def _recording_stop(self, stream, resource: dict) -> MediaEvent:
        session = resource["recording"]
        answer = self._recording_stop_call(resource)
        folder = f"livestage/{stream.id.hex}"
        # Composite mode names its playlist <sid>_<cname>.m3u8; stop's file list says so too ("string" mode:
        # the name; "json" mode: a list of files).
        files = ((answer or {}).get("serverResponse") or {}).get(
            "fileList"
        ) or f"{session['sid']}_{resource['channel']}.m3u8"
        if isinstance(files, list):
            files = next((f["fileName"] for f in files if str(f.get("fileName", "")).endswith(".m3u8")), "")
        name = files if files.startswith(folder + "/") else f"{folder}/{files.rsplit('/', 1)[-1]}"
        recording = {"name": name, "thumbnail": "", "durationSeconds": round(time.time() - session["startedAt"], 1)}
        logger.info("stream %s: Agora Cloud Recording %s stopped: %s", stream.id, session["sid"], name)
        return MediaEvent(
            id=f"recording-{session['sid']}",
            kind="recording_ready",
            resource_id=resource["channel"],
            recording=recording,
            resource={"recording": None},
        )

    # --- playback and recordings ----------------------------------------------------------------
    def playback_url(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> str:
        raise NotImplementedError("Agora streams play with the Agora Web SDK: see playback().")

    def playback(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> dict:
        # A signed-in viewer joins as their own uid, bound in the token (Agora lets a uid in once per
        # channel: a second device takes over); an anonymous one (free streams) as any uid Agora picks.
        uid = VIEWER_UID_OFFSET + viewer_id if viewer_id else 0
        channel = stream.media_resource["channel"]
        token = tokens.rtc_token(channel=channel, uid=uid, expires_at=expires_at)
        return {"type": "agora", "appId": settings.AGORA_APP_ID, "channel": channel, "uid": uid, "token": token}

    def output_remove(self, *, stream_id) -> None:
        return None

    def recording_part_stream_id(self, *, path: str) -> str | None:
        return None

    def recording_save(self, *, name, path):
        raise NotImplementedError("Agora's Cloud Recording stores its recordings itself.")

    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        return s3.recording_url(_s3(), bucket=settings.AGORA_RECORDING_BUCKET, name=name, expires_at=expires_at)

    def recording_read(self, *, name: str) -> bytes:
        return s3.recording_read(_s3(), bucket=settings.AGORA_RECORDING_BUCKET, name=name)
