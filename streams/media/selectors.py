"""Reads of the media plane that its API, the backends' routes and the ladder share."""

from collections.abc import Callable
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet

from livestream_site.errors import NotFound
from streams.models import LiveStream, LiveStreamRecording

from .backends import Rendition, get_backend, quality_max_height


def stream_recordings(*, stream: LiveStream) -> QuerySet[LiveStreamRecording]:
    """A stream's recordings, newest first."""
    return stream.recordings.all()


def stream_recordings_ready(*, stream_ids) -> QuerySet[LiveStreamRecording]:
    """The ready recordings of these streams, newest first."""
    return LiveStreamRecording.objects.filter(
        stream_id__in=stream_ids, status=LiveStreamRecording.Status.READY
    ).order_by("-created_at")


def ingest_max_height(*, stream_id: UUID | str) -> int:
    """The highest rung the ladder may produce for this stream (its maxQuality)."""
    stream = LiveStream.objects.filter(pk=stream_id).only("max_quality").first()
    if stream is None:
        raise NotFound("No stream with that id.")
    return quality_max_height(stream.max_quality)


# Called as hook(stream=..., user_id=...) -> bool: may this viewer (None: anonymous) watch the stream
# now? The media plane stands below payments, which decides access and registers its check here.
_playback_access_hook: Callable[..., bool] | None = None


def playback_access_hook_set(hook: Callable[..., bool] | None) -> None:
    """Register the one access check of playback: hook(stream=LiveStream, user_id=int | None) -> bool."""
    global _playback_access_hook
    _playback_access_hook = hook


def playback_allowed(*, stream: LiveStream, user_id: int | None) -> bool:
    """Whether the viewer a playback token was handed to may still watch (checked on every master playlist,
    so a refunded viewer's URL stops working at once there, and their variant URLs at expiry)."""
    hook = _playback_access_hook
    if hook is None:  # no app decides access: only the lifecycle does
        return stream.status != LiveStream.Status.CANCELLED
    return hook(stream=stream, user_id=user_id)


def stream_renditions_allowed(*, stream: LiveStream) -> list[Rendition]:
    """The renditions a viewer may get now: those being produced, up to maxQuality and the quality cap."""
    limit = quality_max_height(stream.max_quality, stream.quality_cap)
    return [r for r in get_backend().renditions(stream=stream) if r.height <= limit]


def stream_ingest_key(*, stream: LiveStream) -> str | None:
    """The key the artist's encoder publishes with: the platform's own, or on a managed media system the
    provider's (None until the stream's resource exists there)."""
    backend = get_backend()
    if not backend.provisions:
        return stream.stream_key
    if stream.media_backend != backend.name:
        return None
    return backend.ingest_info(stream=stream)["streamKey"]


def encoder_recommendation(*, stream: LiveStream) -> dict:
    """What the artist's encoder (OBS) should send for this stream, from the platform's own settings: the
    size and bitrates of the highest rung of HLS_LADDER that the stream's maxQuality allows (the source is
    never upscaled, so a smaller one loses the top rungs), the stream's frame rate, a keyframe every HLS
    segment (HLS_SEGMENT_SECONDS: each segment then starts on a keyframe) and the transcoder's x264 preset."""
    rungs = []
    for item in settings.HLS_LADDER.split(","):
        parts = item.strip().split(":")
        if len(parts) == 4 and all(part.isdigit() for part in parts[1:]):
            rungs.append(
                {"name": parts[0], "height": int(parts[1]), "video_kbps": int(parts[2]), "audio_kbps": int(parts[3])}
            )
    rungs.sort(key=lambda rung: rung["height"])
    max_height = quality_max_height(stream.max_quality)
    allowed = [rung for rung in rungs if rung["height"] <= max_height] or rungs[:1]
    top = allowed[-1]  # HLS_LADDER is never empty: the transcoder needs at least one rung
    width = round(top["height"] * 16 / 9 / 2) * 2  # 16:9, even (x264 wants even sizes)
    fps = (stream.stream_settings or {}).get("fps") or 30
    segment = settings.HLS_SEGMENT_SECONDS
    return {
        "rung": top["name"],
        "resolution": f"{width}x{top['height']}",
        "video_kbps": top["video_kbps"],
        "audio_kbps": top["audio_kbps"],
        "fps": fps,
        "keyframe_seconds": f"{segment:g}",
        "keyframe_frames": round(fps * segment),
        "x264_preset": settings.HLS_X264_PRESET,
        "tune": "zerolatency" if settings.HLS_LOW_LATENCY else "",
        "renditions": [rung["name"] for rung in allowed],
    }
