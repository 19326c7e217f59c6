"""IVS's EventBridge events, as an EventBridge rule delivers them to an API destination (one event per
request, the event as JSON): "IVS Stream State Change" and "IVS Recording State Change"
(https://docs.aws.amazon.com/ivs/latest/LowLatencyUserGuide/eventbridge.html). The API destination's
connection sends `Authorization: Bearer <IVS_EVENTS_SECRET>` (API key authorization)."""

import json
import logging

from django.conf import settings
from django.utils.crypto import constant_time_compare

from .. import MediaEvent, MediaEventsRefused

logger = logging.getLogger(__name__)

STREAM_EVENTS = {"Stream Start": "publish_started", "Stream End": "publish_ended"}
RECORDING_FAILURES = {"Recording Start Failure", "Recording End Failure"}


def events_read(*, body: bytes, headers) -> list[MediaEvent]:
    secret = settings.IVS_EVENTS_SECRET
    given = headers.get("Authorization", "")
    if not secret or not constant_time_compare(given, f"Bearer {secret}"):
        raise MediaEventsRefused("Not an IVS event of this platform's EventBridge rule.")
    try:
        event = json.loads(body)
        event_id, kind, detail = str(event["id"]), event["detail-type"], event["detail"]
        channel_arn = event["resources"][0]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"Not an EventBridge event: {exc!r} missing or malformed.") from None
    if event.get("source") != "aws.ivs" or not isinstance(detail, dict):
        raise ValueError("Not an IVS event: source must be aws.ivs.")
    session = str(detail.get("stream_id", ""))
    if kind == "IVS Stream State Change":
        name = STREAM_EVENTS.get(detail.get("event_name"))
        return [MediaEvent(id=event_id, kind=name, resource_id=channel_arn, session=session)] if name else []
    if kind == "IVS Recording State Change":
        status = detail.get("recording_status")
        if status in RECORDING_FAILURES:
            return [MediaEvent(id=event_id, kind="recording_failed", resource_id=channel_arn, session=session)]
        if status != "Recording End":
            return []
        bucket, prefix = detail.get("recording_s3_bucket_name"), detail.get("recording_s3_key_prefix")
        if not prefix or (settings.IVS_RECORDING_BUCKET and bucket != settings.IVS_RECORDING_BUCKET):
            logger.warning("IVS recording of %s in %s/%s: not the configured bucket", channel_arn, bucket, prefix)
            return []
        duration = detail.get("recording_duration_ms")
        recording = {
            # IVS writes media/hls/master.m3u8 (+ a folder per rendition) and media/thumbnails/thumbN.jpg.
            "name": f"{prefix}/media/hls/master.m3u8",
            "thumbnail": f"{prefix}/media/thumbnails/thumb0.jpg",
            "durationSeconds": round(duration / 1000, 3) if isinstance(duration, int | float) else None,
        }
        return [
            MediaEvent(
                id=event_id, kind="recording_ready", resource_id=channel_arn, session=session, recording=recording
            )
        ]
    return []
