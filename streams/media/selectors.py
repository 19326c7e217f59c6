"""Reads of the media plane that its API, the backends' routes and the ladder share."""

from uuid import UUID

from django.db.models import QuerySet

from livestream_site.errors import NotFound
from streams.models import LiveStream, LiveStreamRecording

from .backends import Rendition, get_backend, quality_max_height


def stream_recordings(*, stream: LiveStream) -> QuerySet[LiveStreamRecording]:
    """A stream's recordings, newest first."""
    return stream.recordings.all()


def ingest_max_height(*, stream_id: UUID | str) -> int:
    """The highest rung the ladder may produce for this stream (its maxQuality)."""
    stream = LiveStream.objects.filter(pk=stream_id).only("max_quality").first()
    if stream is None:
        raise NotFound("No stream with that id.")
    return quality_max_height(stream.max_quality)


def stream_renditions_allowed(*, stream: LiveStream) -> list[Rendition]:
    """The renditions a viewer may get now: those being produced, up to maxQuality and the quality cap."""
    limit = quality_max_height(stream.max_quality, stream.quality_cap)
    return [r for r in get_backend().renditions(stream=stream) if r.height <= limit]
