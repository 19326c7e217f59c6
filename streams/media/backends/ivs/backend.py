"""The IVS backend: boto3's `ivs` client for channels, stream keys and streams, `s3` for recordings.

Every call goes through _call, which turns botocore's errors into MediaProviderError (retryable for
throttling, 5xx and timeouts, which botocore's standard retry mode has already retried with backoff).
CreateChannel is not idempotent, so it is made with a client that does not retry; a retry of the
provisioning first looks the channel up by its name (the stream's id).
"""

import logging
import re
from datetime import datetime
from functools import cache
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError
from django.conf import settings

from .. import HlsRequest, MediaEvent, MediaProviderError, Rendition, StreamingBackend, s3  # noqa: F401
from . import events, tokens

logger = logging.getLogger(__name__)

CHANNEL_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ivs:[a-z0-9-]+:\d{12}:channel/[A-Za-z0-9]+$")
KEY_PAIR_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ivs:[a-z0-9-]+:\d{12}:playback-key/[A-Za-z0-9]+$")
NAME_PREFIX = "livestage-"
RETRYABLE_CODES = {"ThrottlingException", "ServiceQuotaExceededException", "InternalServerException"}
PPV_NEEDS = (
    "Pay-per-view streams on IVS need a private channel: set IVS_PLAYBACK_KEY_PAIR_ARN and IVS_PLAYBACK_PRIVATE_KEY."
)


@cache
def _client(service: str, region: str, endpoint: str, attempts: int):
    config = Config(retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=5, read_timeout=15)
    return boto3.client(service, region_name=region, endpoint_url=endpoint or None, config=config)


def ivs_client(*, retries: bool = True):
    return _client("ivs", settings.AWS_REGION, settings.AWS_ENDPOINT_URL, settings.IVS_MAX_ATTEMPTS if retries else 1)


def s3_client():
    return s3.s3_client(
        region=settings.AWS_REGION, endpoint=settings.AWS_ENDPOINT_URL, attempts=settings.IVS_MAX_ATTEMPTS
    )


def _call(method, **params):
    try:
        return method(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        retryable = status >= 500 or status == 429 or error.get("Code") in RETRYABLE_CODES
        raise MediaProviderError(
            f"IVS {method.__name__}: {error.get('Code')}: {error.get('Message')}", retryable=retryable
        ) from exc
    except (ConnectionError, ReadTimeoutError) as exc:
        raise MediaProviderError(f"IVS {method.__name__}: {exc}", retryable=True) from exc
    except BotoCoreError as exc:
        raise MediaProviderError(f"IVS {method.__name__}: {exc}") from exc


def _code(exc: MediaProviderError) -> str | None:
    cause = exc.__cause__
    return cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None


class IvsBackend(StreamingBackend):
    name = "ivs"
    provisions = True
    records_itself = True

    # --- configuration and provisioning -----------------------------------------------------
    @classmethod
    def configuration_errors(cls) -> list[str]:
        errors = []
        if not settings.AWS_REGION:
            errors.append("AWS_REGION (or AWS_DEFAULT_REGION) must be set for STREAMING_BACKEND=ivs.")
        elif boto3.Session(region_name=settings.AWS_REGION).get_credentials() is None:
            errors.append(
                "No AWS credentials for STREAMING_BACKEND=ivs: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE, or run with an IAM role)."
            )
        if settings.AWS_IVS_CHANNEL_ARN and not CHANNEL_ARN_RE.match(settings.AWS_IVS_CHANNEL_ARN):
            errors.append("AWS_IVS_CHANNEL_ARN is not an IVS channel ARN (arn:aws:ivs:REGION:ACCOUNT:channel/ID).")
        pair, key = settings.IVS_PLAYBACK_KEY_PAIR_ARN, settings.IVS_PLAYBACK_PRIVATE_KEY
        if pair and not KEY_PAIR_ARN_RE.match(pair):
            errors.append("IVS_PLAYBACK_KEY_PAIR_ARN is not an IVS playback key ARN (arn:aws:ivs:...:playback-key/ID).")
        if bool(pair) != bool(key):
            missing = "IVS_PLAYBACK_PRIVATE_KEY" if pair else "IVS_PLAYBACK_KEY_PAIR_ARN"
            errors.append(f"{missing} must be set too: private channels need the key pair's ARN and its private key.")
        if key:
            try:
                tokens.playback_private_key()
            except (tokens.PlaybackKeyError, OSError) as exc:
                errors.append(f"IVS_PLAYBACK_PRIVATE_KEY is unusable: {exc}.")
        if bool(settings.IVS_RECORDING_CONFIGURATION_ARN) != bool(settings.IVS_RECORDING_BUCKET):
            errors.append("IVS_RECORDING_CONFIGURATION_ARN and IVS_RECORDING_BUCKET (its S3 bucket) go together.")
        if not settings.IVS_EVENTS_SECRET:
            errors.append(
                "IVS_EVENTS_SECRET must be set for STREAMING_BACKEND=ivs: IVS reports streams going live and "
                "recordings through EventBridge to /api/media/provider-events with it."
            )
        return errors

    @property
    def private_channels(self) -> bool:
        return bool(settings.IVS_PLAYBACK_KEY_PAIR_ARN and settings.IVS_PLAYBACK_PRIVATE_KEY)

    def stream_errors(self, *, stream) -> dict[str, list[str]]:
        if stream.is_pay_per_view and not self.private_channels:
            return {"is_pay_per_view": [PPV_NEEDS]}
        if stream.is_recording_enabled and not settings.IVS_RECORDING_CONFIGURATION_ARN:
            return {
                "is_recording_enabled": [
                    "Recording on IVS needs IVS_RECORDING_CONFIGURATION_ARN and IVS_RECORDING_BUCKET."
                ]
            }
        return {}

    def _channel_settings(self, stream) -> dict:
        return {
            "authorized": bool(stream.is_pay_per_view),
            "latencyMode": "LOW" if settings.HLS_LOW_LATENCY else "NORMAL",
            "recordingConfigurationArn": settings.IVS_RECORDING_CONFIGURATION_ARN
            if stream.is_recording_enabled
            else "",
        }

    def stream_provision(self, *, stream, resource: dict) -> dict:
        client = ivs_client()
        if settings.AWS_IVS_CHANNEL_ARN:
            channel = _call(client.get_channel, arn=settings.AWS_IVS_CHANNEL_ARN)["channel"]
            if stream.is_pay_per_view and not channel["authorized"]:
                raise MediaProviderError(f"The channel AWS_IVS_CHANNEL_ARN is not authorized (private): {PPV_NEEDS}")
            return self._resource(channel, self._stream_key(channel["arn"], resource), shared=True)
        arn = resource.get("id") or self._channel_by_name(f"{NAME_PREFIX}{stream.id}")
        wanted = self._channel_settings(stream)
        if arn is None:
            created = _call(
                ivs_client(retries=False).create_channel,
                name=f"{NAME_PREFIX}{stream.id}",
                type="STANDARD",
                tags={"livestage:stream": str(stream.id)},
                **wanted,
            )
            return self._resource(created["channel"], created["streamKey"], shared=False)
        channel = _call(client.get_channel, arn=arn)["channel"]
        if any(channel.get(name, "") != value for name, value in wanted.items()):
            channel = _call(client.update_channel, arn=arn, **wanted)["channel"]
        return self._resource(channel, self._stream_key(arn, resource), shared=False)

    def _channel_by_name(self, name: str) -> str | None:
        found = _call(ivs_client().list_channels, filterByName=name)["channels"]
        exact = [channel["arn"] for channel in found if channel.get("name") == name]
        return exact[0] if exact else None

    def _stream_key(self, channel_arn: str, resource: dict) -> dict:
        """The channel's stream key (IVS allows one per channel): the stored one, or read from IVS."""
        if resource.get("streamKeyArn") and resource.get("id") == channel_arn:
            return {"arn": resource["streamKeyArn"], "value": resource["streamKey"]}
        client = ivs_client()
        keys = _call(client.list_stream_keys, channelArn=channel_arn)["streamKeys"]
        if keys:
            return _call(client.get_stream_key, arn=keys[0]["arn"])["streamKey"]
        return _call(client.create_stream_key, channelArn=channel_arn)["streamKey"]

    @staticmethod
    def _resource(channel: dict, key: dict, *, shared: bool) -> dict:
        return {
            "id": channel["arn"],
            "ingestEndpoint": channel["ingestEndpoint"],
            "playbackUrl": channel["playbackUrl"],
            "authorized": bool(channel.get("authorized")),
            "streamKeyArn": key["arn"],
            "streamKey": key["value"],
            "shared": shared,
        }

    def stream_deprovision(self, *, resource: dict) -> None:
        if resource.get("shared") or not resource.get("id"):
            return  # the operator's channel stays
        try:
            _call(ivs_client().delete_channel, arn=resource["id"])
        except MediaProviderError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise

    def stream_key_rotate(self, *, stream, resource: dict) -> dict:
        client = ivs_client()
        self._stream_key_delete(resource)
        key = _call(client.create_stream_key, channelArn=resource["id"])["streamKey"]
        return {**resource, "streamKeyArn": key["arn"], "streamKey": key["value"]}

    def _stream_key_delete(self, resource: dict) -> None:
        try:
            _call(ivs_client().delete_stream_key, arn=resource["streamKeyArn"])
        except MediaProviderError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise

    def provider_events_read(self, *, body: bytes, headers) -> list[MediaEvent]:
        return events.events_read(body=body, headers=headers)

    # --- ingest -----------------------------------------------------------------------------
    def ingest_info(self, *, stream) -> dict:
        resource = stream.media_resource
        # IVS ingests RTMPS on port 443 at the channel's ingest endpoint, app "app".
        return {"url": f"rtmps://{resource['ingestEndpoint']}:443/app/", "streamKey": resource["streamKey"]}

    def _stream(self, stream) -> dict | None:
        """IVS's GetStream of the stream's channel; None when the channel is not broadcasting."""
        try:
            return _call(ivs_client().get_stream, channelArn=stream.media_resource["id"])["stream"]
        except MediaProviderError as exc:
            if _code(exc) == "ChannelNotBroadcasting":
                return None
            raise

    def is_publishing(self, *, stream) -> bool | None:
        if not stream.media_resource.get("id"):
            return None
        try:
            live = self._stream(stream)
        except MediaProviderError as exc:
            logger.warning("IVS state of %s unreadable: %s", stream.id, exc)
            return None
        return live is not None and live.get("state") == "LIVE"

    def publisher_drop(self, *, stream) -> None:
        # OBS reconnects on its own: delete the key first, then stop the stream.
        resource = stream.media_resource
        if not resource.get("id"):
            return
        try:
            if not resource.get("shared"):
                self._stream_key_delete(resource)
            _call(ivs_client().stop_stream, channelArn=resource["id"])
        except MediaProviderError as exc:
            if _code(exc) != "ChannelNotBroadcasting":
                logger.warning("IVS: stopping the stream of %s failed: %s", stream.id, exc)

    def health(self, *, stream) -> dict:
        try:
            live = self._stream(stream) if stream.media_resource.get("id") else None
            session = (
                _call(
                    ivs_client().get_stream_session, channelArn=stream.media_resource["id"], streamId=live["streamId"]
                )["streamSession"]
                if live
                else None
            )
        except MediaProviderError as exc:
            logger.warning("IVS health of %s unreadable: %s", stream.id, exc)
            return {"mediaServerReachable": False, "publishing": False, "ingest": None}
        if live is None or live.get("state") != "LIVE":
            return {"mediaServerReachable": True, "publishing": False, "ingest": None}
        config = (session or {}).get("ingestConfiguration", {})
        video, audio = config.get("video", {}), config.get("audio", {})
        width, height = video.get("videoWidth"), video.get("videoHeight")
        uptime = (
            (datetime.now(live["startTime"].tzinfo) - live["startTime"]).total_seconds()
            if live.get("startTime")
            else None
        )
        ingest = {
            "bitrateKbps": round(video["targetBitrate"] / 1000) if video.get("targetBitrate") else None,
            "fps": video.get("targetFramerate"),
            "width": width,
            "height": height,
            "resolution": f"{width}x{height}" if width and height else None,
            "videoCodec": video.get("codec"),
            "videoProfile": video.get("avcProfile"),
            "audioCodec": audio.get("codec"),
            "audioSampleRate": audio.get("sampleRate"),
            "audioChannels": audio.get("channels"),
            "uptimeSeconds": round(uptime, 1) if uptime is not None else None,
            "keyframeIntervalSeconds": None,
            "health": live.get("health"),  # IVS's own verdict: HEALTHY, STARVING, UNKNOWN
            "viewerCount": live.get("viewerCount"),
        }
        return {"mediaServerReachable": True, "publishing": True, "ingest": ingest}

    def renditions(self, *, stream) -> list[Rendition]:
        return []  # IVS transcodes its own ladder and does not list it

    # --- playback ---------------------------------------------------------------------------
    def playback_url(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> str:
        resource = stream.media_resource
        if not resource.get("authorized"):
            return resource["playbackUrl"]
        token = tokens.playback_token_make(channel_arn=resource["id"], expires_at=expires_at, viewer_id=viewer_id)
        return f"{resource['playbackUrl']}?token={token}"

    def output_remove(self, *, stream_id) -> None:
        return None  # IVS keeps no live output once the stream ends

    # --- recordings (IVS writes them to S3; events.py learns when) -------------------------------
    def recording_part_stream_id(self, *, path: str) -> str | None:
        return None

    def recording_save(self, *, name: str, path: Path) -> str:
        raise NotImplementedError("IVS stores its recordings in S3 itself.")

    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        return s3.recording_url(s3_client(), bucket=settings.IVS_RECORDING_BUCKET, name=name, expires_at=expires_at)

    def recording_read(self, *, name: str) -> bytes:
        return s3.recording_read(s3_client(), bucket=settings.IVS_RECORDING_BUCKET, name=name)
