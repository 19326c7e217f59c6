"""What the managed media systems (IVS, Wowza Video, Wowza Streaming Engine, Agora) share as backends: a resource
per stream on the provider, recordings the provider makes and stores itself, nothing of the stream on the
platform's disk; and, for those that call back nothing the platform can trust, a task that polls them
(media_poll)."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import MediaEvent, Rendition, StreamingBackend


class ManagedBackend(StreamingBackend):
    provisions = True
    records_itself = True

    def renditions(self, *, stream) -> list[Rendition]:
        return []  # the provider transcodes (or passes the publisher's stream on) and lists no ladder

    def output_remove(self, *, stream_id) -> None:
        return None  # the provider keeps no live output of ours once the stream ends

    def recording_part_stream_id(self, *, path: str) -> str | None:
        return None

    def recording_save(self, *, name, path):
        raise NotImplementedError(f"{self.name}: the provider stores its recordings itself.")


class PolledBackend(ManagedBackend):
    polls = True

    @staticmethod
    def publishing_open(stream) -> bool:
        """Whether the stream takes an encoder now: scheduled or live, and its publishing window opened
        (STREAM_PUBLISH_OPENS_SECONDS before the scheduled start)."""
        opens_at = stream.scheduled_start_time - timedelta(seconds=settings.STREAM_PUBLISH_OPENS_SECONDS)
        return stream.status in ("scheduled", "live") and timezone.now() >= opens_at

    def publish_event(self, *, connected: bool, resource_id: str) -> MediaEvent:
        """The encoder connected or not, as the media system says now."""
        kind = "publish_started" if connected else "publish_ended"
        # A poll has no event id: each observation is new, and the services ignore repeats.
        return MediaEvent(id=f"poll-{uuid.uuid4()}", kind=kind, resource_id=resource_id, session=self.name)
