"""The Socket.IO adapter: namespace /livestream of python-socketio, its events handed to the viewer connection's handlers.

Socket.IO clients (socket.io-client 4.x: Engine.IO 4, Socket.IO 5) reach the same handlers as the
native WebSocket protocol (chat.connection): this module only translates. An event's name and data
go to `ViewerConnection.event_receive`; what it answers goes back as the Socket.IO event of the same
name and data, and as the acknowledgement when the client asked for one. A Socket.IO socket is a
connection of the stream rooms' hub like a native one: it joins the same rooms, counts in the same
viewer registry, and receives room frames through the hub, encoded as a Socket.IO packet once per
room and frame and written to each socket's Engine.IO queue (never python-socketio's emit to a room,
which makes one task and one encoding per recipient).
"""

import asyncio
import json
import logging

import engineio
import socketio
from django.conf import settings

from livestream_site import metrics

from .auth import AuthRefused, origin_allowed, socketio_user
from .connection import BadFrame, ViewerConnection, anonymous_connection_release, anonymous_connection_take

logger = logging.getLogger(__name__)

NAMESPACE = "/livestream"

# The largest Engine.IO message (or long-polling POST) accepted; beyond it Engine.IO closes the
# transport. Below it, an event over WS_MAX_FRAME_BYTES is answered with a `bad_request` error.
ENGINEIO_MAX_PAYLOAD_BYTES = 1_000_000


class _Json:
    """The JSON of Socket.IO packets; like the native frames, ids and times encode as strings."""

    @staticmethod
    def dumps(value, **options):
        return json.dumps(value, default=str, **options)

    loads = staticmethod(json.loads)


class Packet(socketio.packet.Packet):
    json = _Json


def event_message(event: str, data: dict) -> engineio.packet.Packet:
    """The Engine.IO message carrying the Socket.IO event `event` with `data`, in namespace /livestream."""
    text = Packet(socketio.packet.EVENT, data=[event, data], namespace=NAMESPACE).encode()
    return engineio.packet.Packet(engineio.packet.MESSAGE, data=text)


def room_frame_message(text: str) -> engineio.packet.Packet:
    """A room frame (the native `{"event", "data"}` JSON) as its Socket.IO message; made once per room."""
    frame = json.loads(text)
    return event_message(frame["event"], frame["data"])


class SocketIOViewer(ViewerConnection):
    """A Socket.IO socket of namespace /livestream: a viewer connection writing Engine.IO packets."""

    frame_format = staticmethod(room_frame_message)

    def __init__(self, server: socketio.AsyncServer, *, sid: str, eio_sid: str, scope: dict, user):
        self.server = server
        self.sid = sid
        self.eio_sid = eio_sid
        self.scope = scope
        self.user = user
        self.anonymous_slot = False
        self.connection_open()
        self.address = self.client_address()

    async def server_send(self, message: engineio.packet.Packet) -> None:
        await self.server.eio.send_packet(self.eio_sid, message)

    async def event_write(self, event: str, data: dict) -> None:
        await self.server_send(event_message(event, data))

    async def event_handle(self, event, args: tuple) -> dict | None:
        """One client event: its checks as a Socket.IO event, then the shared handlers. Returns the answer's data."""
        if not isinstance(event, str):
            return await self.refusal_send(BadFrame("Event names are strings."), None)
        if len(args) > 1:
            return await self.refusal_send(BadFrame("An event carries one data object."), event[:64])
        data = args[0] if args else {}
        size = len(json.dumps([event, data], default=str).encode())
        if size > settings.WS_MAX_FRAME_BYTES:
            return await self.refusal_send(
                BadFrame(f"Events are at most {settings.WS_MAX_FRAME_BYTES} bytes."), event[:64]
            )
        return await self.event_receive(event, data)


async def _viewer_close(viewer: SocketIOViewer, reason) -> None:
    try:
        await viewer.connection_close()
    except Exception:
        logger.exception("socket.io %s: leaving its streams failed", viewer.connection_id)
    logger.debug("socket.io %s disconnected (%s)", viewer.connection_id, reason)


def socketio_server_make() -> socketio.AsyncServer:
    """The Socket.IO server of namespace /livestream, for socketio.ASGIApp (livestream_site.asgi)."""
    server = socketio.AsyncServer(
        async_mode="asgi",
        serializer=Packet,
        # Long-polling answers carry CORS headers for allowed origins only; Engine.IO refuses
        # requests from any other Origin (clients that send none, mobile and servers, are let in).
        cors_allowed_origins=lambda origin: origin_allowed(origin),
        # One event at a time per socket, in order, as a native connection handles its frames: a
        # sendChatMessage right after joinStream finds the stream joined.
        async_handlers=False,
        max_http_buffer_size=ENGINEIO_MAX_PAYLOAD_BYTES,
    )
    viewers: dict[str, SocketIOViewer] = {}
    closing: set[asyncio.Task] = set()  # the tasks of disconnected viewers leaving their streams

    @server.on("connect", namespace=NAMESPACE)
    async def connect(sid, environ, auth=None):
        if sid in viewers:  # a client event named "connect"
            return None
        scope = environ.get("asgi.scope") or {}
        try:
            user, method = await socketio_user(scope, auth)
        except AuthRefused as refusal:
            raise socketio.exceptions.ConnectionRefusedError(refusal.data["message"], refusal.data) from None
        viewer = SocketIOViewer(
            server, sid=sid, eio_sid=server.manager.eio_sid_from_sid(sid, NAMESPACE), scope=scope, user=user
        )
        if not user.is_authenticated:
            if not anonymous_connection_take(viewer.address):
                # One address cannot open anonymous sockets without end (audit F8), on either protocol.
                logger.info("socket.io refused: too many anonymous connections from one address")
                refusal = {"code": "forbidden", "message": "Too many anonymous connections from this address."}
                raise socketio.exceptions.ConnectionRefusedError(refusal["message"], refusal)
            viewer.anonymous_slot = True
        viewers[sid] = viewer
        metrics.WEBSOCKETS.inc()
        logger.debug("socket.io %s connected (%s)", viewer.connection_id, method)
        return None

    @server.on("disconnect", namespace=NAMESPACE)
    async def disconnect(sid, reason=None):
        if server.manager.is_connected(sid, NAMESPACE):
            return  # a client event named "disconnect": a real disconnect is under way before this is called
        viewer = viewers.pop(sid, None)
        if viewer is None:
            return
        metrics.WEBSOCKETS.dec()
        if viewer.anonymous_slot:
            anonymous_connection_release(viewer.address)
        viewer.closed = True
        # Leaving (the database, Redis) runs in a task of its own: Engine.IO notices a client that stopped
        # answering pings when a frame is written to it, that is inside the hub's delivery to the room,
        # which must not wait for this socket's goodbye.
        task = asyncio.get_running_loop().create_task(_viewer_close(viewer, reason))
        closing.add(task)
        task.add_done_callback(closing.discard)

    @server.on("*", namespace=NAMESPACE)
    async def client_event(event, sid, *args):
        viewer = viewers.get(sid)
        if viewer is None:
            return None
        if viewer.flooding():
            logger.info("socket.io %s closed for flooding", viewer.connection_id)
            await viewer.send_error("rate_limited", "Too many events: this connection is closed.", event)
            await server.disconnect(sid, namespace=NAMESPACE)
            return None
        try:
            return await viewer.event_handle(event, args)
        except Exception:  # nothing a client sends may leave it without an answer
            logger.exception("socket.io %s: %r failed", viewer.connection_id, event)
            return await viewer.send_error("bad_request", "The event could not be processed.", None)
        finally:
            if viewer.closed:  # it disconnected while this event (a join) was under way: undo what it did
                await _viewer_close(viewer, "closed during an event")

    return server
