"""Reads of the media plane that its API, the backends' routes and the ladder share."""

from collections.abc import Callable
from uuid import UUID

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
