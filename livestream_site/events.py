"""Real-time events for a stream's room, sent only after the surrounding transaction commits."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def stream_group_name(stream_id) -> str:
    return f"stream.{stream_id}"


def stream_event_send_on_commit(*, stream_id, event: str, data: dict) -> None:
    """Queue `event` for everyone in the stream's room once the current transaction commits.

    Nothing private may go into `data`: every member of the room receives it.
    """

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(
                stream_group_name(stream_id), {"type": "stream.event", "event": event, "data": data}
            )
        except Exception:  # an unreachable channel layer must not undo a committed change
            logger.exception("could not send %s for stream %s", event, stream_id)

    transaction.on_commit(send)
