"""What Wowza Video and Wowza Streaming Engine share as polled media systems (beyond ../managed.py): the
encoder's state as an event, and a finished or failed recording as one."""

from .. import MediaEvent
from ..managed import PolledBackend


class WowzaPolledBackend(PolledBackend):
    def publish_events(self, *, stream, resource_id: str) -> list[MediaEvent]:
        """The encoder connected or not, as the media system says now (nothing when it cannot say)."""
        connected = self.is_publishing(stream=stream)
        return [] if connected is None else [self.publish_event(connected=connected, resource_id=resource_id)]

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
