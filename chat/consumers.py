"""The ws/livestream/ consumer: frames {"event", "data"} handed to the viewer connection's handlers (chat.connection)."""

import logging

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from livestream_site import metrics
from livestream_site.parsers import json_loads
from livestream_site.realtime import frame_encode
from livestream_site.serving import room_writer

from .connection import (
    ERROR_CODES,
    BadFrame,
    ViewerConnection,
    anonymous_connection_release,
    anonymous_connection_take,
    sessions_keep_alive,
)

__all__ = ["CLOSE_FLOODING", "ERROR_CODES", "LiveStreamConsumer", "sessions_keep_alive"]

logger = logging.getLogger(__name__)

# Close code for a connection that keeps flooding after being told it is rate limited.
CLOSE_FLOODING = 4008


class LiveStreamConsumer(ViewerConnection, AsyncWebsocketConsumer):
    # Rooms go through the process hub, not the channel layer: no per-connection channel is needed.
    channel_layer_alias = "livestream-consumer-has-no-channel-layer"

    async def dispatch(self, message):
        # Channels closes stale database connections before every message and after a disconnect, each
        # time a hop to the one database thread (three per join, queued behind every other). This consumer
        # reaches the database only through database_sync_to_async, which does the same around each call.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message):
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def connect(self):
        self.user = self.scope["user"]
        # Room frames go straight to the server (see chat.auth._KeepServerSend).
        self.server_send = self.scope.get("server_send") or self.base_send
        # Under daphne, room frames are framed once per room and written to the socket (serving.py).
        self.room_write = room_writer(self.server_send)
        self.connection_open()
        self.address = self.client_address()
        if not self.user.is_authenticated and not anonymous_connection_take(self.address):
            # Refused at the handshake (403): one address cannot open anonymous sockets without end (audit F8).
            logger.info("websocket refused: too many anonymous connections from one address")
            await self.close()
            return
        self.anonymous_slot = not self.user.is_authenticated
        await self.accept()
        self.counted = True
        metrics.WEBSOCKETS.inc()
        logger.debug("websocket %s connected (%s)", self.connection_id, self.scope.get("auth_method"))

    async def disconnect(self, code):
        if getattr(self, "anonymous_slot", False):
            self.anonymous_slot = False
            anonymous_connection_release(self.address)
        await self.connection_close()
        if getattr(self, "counted", False):
            self.counted = False
            metrics.WEBSOCKETS.dec()
        logger.debug("websocket %s disconnected (%s)", self.connection_id, code)

    async def event_write(self, event: str, data: dict) -> None:
        await self.send(text_data=frame_encode(event, data))

    async def receive(self, text_data=None, bytes_data=None):
        if self.flooding():
            logger.info("websocket %s closed for flooding", self.connection_id)
            await self.close(code=CLOSE_FLOODING)
            return
        try:
            event, data = self._frame_parse(text_data)
        except BadFrame as error:
            await self.refusal_send(error, None)
            return
        await self.event_receive(event, data)

    def _frame_parse(self, text_data: str | None) -> tuple[str, object]:
        """A text frame's event name and data (checked by event_receive); BadFrame when it is no frame."""
        if text_data is None:
            raise BadFrame("Frames are JSON text.")
        if len(text_data) > settings.WS_MAX_FRAME_BYTES or len(text_data.encode()) > settings.WS_MAX_FRAME_BYTES:
            raise BadFrame(f"Frames are at most {settings.WS_MAX_FRAME_BYTES} bytes.")
        try:
            frame = json_loads(text_data)
        except ValueError as exc:
            raise BadFrame(f"Frames are JSON objects {{event, data}} ({exc}).") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
            raise BadFrame("Frames are JSON objects {event, data}.")
        return frame["event"], frame.get("data", {})
