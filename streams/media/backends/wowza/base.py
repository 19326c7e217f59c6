"""What Wowza Video and Wowza Streaming Engine share as media systems: a resource per stream, replays Wowza
records and stores itself, and no callbacks the platform can trust, so a task polls them (media_poll)."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .. import MediaEvent, Rendition, StreamingBackend


class WowzaPolledBackend(StreamingBackend):
    provisions = True
    records_itself = True
    polls = True

    @staticmethod
    def publishing_open(stream) -> bool:
        """Whether the stream takes an encoder now: scheduled or live, and its publishing window opened
        (STREAM_PUBLISH_OPENS_SECONDS before the scheduled start)."""
        opens_at = stream.scheduled_start_time - timedelta(seconds=settings.STREAM_PUBLISH_OPENS_SECONDS)
        return stream.status in ("scheduled", "live") and timezone.now() >= opens_at

    def publish_events(self, *, stream, resource_id: str) -> list[MediaEvent]:
        """The encoder connected or not, as the media system says now (nothing when it cannot say)."""
        connected = self.is_publishing(stream=stream)
        if connected is None:
            return []
        kind = "publish_started" if connected else "publish_ended"
        # A poll has no event id: each observation is new, and the services ignore repeats.
        return [MediaEvent(id=f"poll-{uuid.uuid4()}", kind=kind, resource_id=resource_id, session="wowza")]

    @staticmethod
    def recording_event(
        *, recording_id: str, resource_id: str, name: str = "", duration_seconds=None, failed: bool = False
    ) -> MediaEvent:
        """Wowza finished (or failed) the recording `recording_id` of the resource; `name` is what recording_url
        takes. One event id per recording: a later poll that sees it again is a repeat."""
        if failed:
            return MediaEvent(id=f"recording-{recording_id}", kind="recording_failed", resource_id=resource_id)
        return MediaEvent(
            id=f"recording-{recording_id}",
            kind="recording_ready",
            resource_id=resource_id,
            recording={"name": name, "durationSeconds": duration_seconds},
        )

    def renditions(self, *, stream) -> list[Rendition]:
        return []

    def output_remove(self, *, stream_id) -> None:
        return None

    def recording_part_stream_id(self, *, path: str) -> str | None:
        return None

    def recording_save(self, *, name, path):
        raise NotImplementedError("Wowza stores its recordings itself.")
