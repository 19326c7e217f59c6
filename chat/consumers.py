"""The ws/livestream/ consumer: frames {"event", "data"} translated to access checks and chat services."""

import collections
import contextlib
import hashlib
import logging
import time
import uuid

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from djangorestframework_camel_case.util import camelize

from analytics import clients as viewer_clients
from analytics import services as analytics_services
from analytics.advice import advice_update
from analytics.selectors import session_streams
from livestream_site import metrics
from livestream_site.errors import ApplicationError
from livestream_site.events import stream_staff_room
from livestream_site.parsers import json_loads
from livestream_site.realtime import TRANSPORT_ERRORS, frame_encode, hub_get
from payments.selectors import stream_access_require, stream_viewer_access, stream_viewer_access_settled

from . import inputs, joins, services
from .selectors import join_slow_mode, stream_is_exempt

logger = logging.getLogger(__name__)

# Close code for a connection that keeps flooding after being told it is rate limited.
CLOSE_FLOODING = 4008

ERROR_CODES = (
    "not_found",
    "forbidden",
    "payment_required",
    "stream_full",
    "not_joined",
    "chat_disabled",
    "stream_not_live",
    "rate_limited",
    "slow_mode",
    "banned",
    "blocked_term",
    "invalid_message",
    "bad_request",
    "unknown_event",
    "unavailable",
    "broadcast_failed",
)


# Anonymous connections of this process per client address (WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS).
_anonymous_connections: collections.Counter = collections.Counter()


def _anonymous_connection_take(address: str | None) -> bool:
    if address is None:
        return True  # no address to count by (a test client, a unix socket)
    if _anonymous_connections[address] >= settings.WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS:
        return False
    _anonymous_connections[address] += 1
    return True


def _anonymous_connection_release(address: str | None) -> None:
    if address is not None and _anonymous_connections[address] > 0:
        _anonymous_connections[address] -= 1
        if not _anonymous_connections[address]:
            del _anonymous_connections[address]


class BadFrame(ApplicationError):
    code = "bad_request"


async def sessions_keep_alive(connections) -> None:
    """The hub's heartbeat: every viewer session of this process's connections is seen, in one event."""
    session_ids = [sid for connection in connections for sid in getattr(connection, "sessions", {}).values()]
    if session_ids:
        await database_sync_to_async(analytics_services.session_seen)(session_ids=session_ids)


class LiveStreamConsumer(AsyncWebsocketConsumer):
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
        self.connection_id = uuid.uuid4().hex
        # stream id -> (the hub of the room, viewer-registry member or None when exempt)
        self.joined: dict[str, tuple] = {}
        self.frames: collections.deque = collections.deque()
        self.events: collections.deque = collections.deque()
        self.sessions: dict[str, str] = {}  # stream id -> the viewer session of this connection
        self.quality_advice: dict[str, dict | None] = {}  # stream id -> the advice in force (analytics.advice)
        headers = viewer_clients.scope_headers(self.scope)
        self.address = viewer_clients.client_address(headers=headers, peer=(self.scope.get("client") or [None])[0])
        if not self.user.is_authenticated and not _anonymous_connection_take(self.address):
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
            _anonymous_connection_release(self.address)
        for stream_id in list(getattr(self, "joined", {})):
            await self._leave(stream_id)
        if getattr(self, "counted", False):
            self.counted = False
            metrics.WEBSOCKETS.dec()
        logger.debug("websocket %s disconnected (%s)", self.connection_id, code)

    # Frames ---------------------------------------------------------------------------------------
    async def send_event(self, event: str, data: dict) -> None:
        await self.send(text_data=frame_encode(event, data))

    async def send_error(self, code: str, message: str, event=None, **extra) -> None:
        await self.send_event("error", {"code": code, "message": message, "event": event, **extra})

    def _count(self, hits: collections.deque, limit: int) -> bool:
        """Record a hit in a sliding window; False when over `limit`."""
        now = time.monotonic()
        while hits and hits[0] <= now - settings.WS_EVENT_RATE_SECONDS:
            hits.popleft()
        hits.append(now)
        return len(hits) <= limit

    async def receive(self, text_data=None, bytes_data=None):
        if not self._count(self.frames, settings.WS_FLOOD_LIMIT):
            logger.info("websocket %s closed for flooding", self.connection_id)
            await self.close(code=CLOSE_FLOODING)
            return
        event = None
        try:
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
            event = frame["event"][:64]
            data = frame.get("data", {})
            if not isinstance(data, dict):
                raise BadFrame("data must be an object.", fields={"data": ["Must be an object."]})
            handler = self.HANDLERS.get(event)
            if event != "sendChatMessage" and not self._count(self.events, settings.WS_EVENT_RATE_LIMIT):
                raise ApplicationError("Too many events; slow down.", code="rate_limited")
            if handler is None:
                raise ApplicationError(f"Unknown event {event!r}.", code="unknown_event")
            await handler(self, data)
        except ApplicationError as error:
            extra = {"retryAfter": error.fields["retry_after"]} if "retry_after" in error.fields else {}
            # The fields a refusal names (chat.inputs' or a service's), camelCase like the frame's keys.
            fields = {name: problems for name, problems in error.fields.items() if name != "retry_after"}
            if fields:
                extra["fields"] = camelize(fields)
            metrics.REFUSED_EVENTS.labels(error.code).inc()
            await self.send_error(error.code, error.message, event, **extra)
        except TRANSPORT_ERRORS as error:
            # Redis down or restarting: nothing the client did wrong; it may try again shortly.
            logger.warning("websocket %s: %s: real-time transport unavailable (%r)", self.connection_id, event, error)
            await self.send_error(
                "unavailable", "Live features are unavailable for a moment; try again shortly.", event
            )
        except Exception:  # nothing a client sends may crash the consumer
            logger.exception("websocket %s: %s failed", self.connection_id, event)
            await self.send_error("bad_request", "The event could not be processed.", event)

    # Helpers ------------------------------------------------------------------------------------
    def _stream_id(self, data: dict) -> str:
        given = data.get("streamId")
        if isinstance(given, str) and len(given) == 36:
            # The common case without the serializer (a fifth of a join's CPU); anything else takes the
            # validating path below, which names the problem.
            with contextlib.suppress(ValueError):
                return str(uuid.UUID(given))
        value = inputs.frame_input(inputs.StreamRef, data)["stream_id"]
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ApplicationError("No stream with that id.", code="not_found") from None

    def _joined_stream_id(self, data: dict) -> str:
        stream_id = self._stream_id(data)
        if stream_id not in self.joined:
            raise ApplicationError("Join the stream first.", code="not_joined")
        return stream_id

    def _viewer_member(self) -> str:
        # Anonymous viewers count once per client address: sockets anyone can open cannot fill a
        # stream's maxViewers and shut out signed-in fans (audit F8). Signed-in viewers count per user.
        if self.user.is_authenticated:
            viewer = f"u{self.user.id}"
        elif self.address:
            viewer = "a" + hashlib.sha256(self.address.encode()).hexdigest()[:16]
        else:
            viewer = f"a{self.connection_id}"
        return f"{viewer}|{self.connection_id}"

    async def _session_open(self, stream) -> None:
        """Start the viewer session of a join; analytics never stands in the way of watching."""
        headers = viewer_clients.scope_headers(self.scope)
        user_agent = headers.get("user-agent", "")
        anonymous = viewer_clients.anonymous_id(viewer_clients.scope_cookies(self.scope))
        peer = (self.scope.get("client") or [None])[0]
        try:
            self.sessions[str(stream.id)] = await joins.session_open(
                stream_id=stream.id,
                viewer_key=viewer_clients.viewer_key(user=self.user, anonymous=anonymous, fallback=self.connection_id),
                user_id=self.user.id if self.user.is_authenticated else None,
                is_replay=stream.status == "ended",
                source="page",
                user_agent=user_agent,
                country=viewer_clients.viewer_country(headers=headers, peer=peer),
            )
        except Exception:
            logger.exception(
                "websocket %s: the viewer session of %s could not be opened", self.connection_id, stream.id
            )

    async def _session_close(self, stream_id: str) -> None:
        session_id = self.sessions.pop(stream_id, None)
        if session_id is None:
            return
        try:
            await database_sync_to_async(analytics_services.session_close)(session_id=session_id)
        except Exception:
            logger.exception("websocket %s: the viewer session %s could not be closed", self.connection_id, session_id)

    async def _report_session(self, stream_id: str, session_id: str | None) -> str | None:
        """The session a report is for: the given one when it is of this stream, else this connection's."""
        own = self.sessions.get(stream_id)
        if session_id is None or session_id == own:
            return own
        if (await database_sync_to_async(session_streams)(session_ids=[session_id])).get(session_id) != stream_id:
            raise ApplicationError(
                "sessionId: not a viewer session of this stream.",
                fields={"session_id": ["Not a session of this stream."]},
            )
        return session_id

    async def _leave(self, stream_id: str) -> None:
        await self._session_close(stream_id)
        hub, member = self.joined.pop(stream_id)
        await self._rooms_leave(hub, stream_id, member, in_room=True)

    async def _rooms_leave(self, hub, stream_id: str, member: str | None, *, in_room: bool) -> None:
        """Leave the audience and the stream's rooms. Every step runs even with the transport down (a
        registry entry then expires by its TTL), so nothing of a gone connection stays behind."""
        if member is not None:
            metrics.STREAM_VIEWERS.labels(stream_id).dec()
            metrics.VIEWERS.dec()
            with contextlib.suppress(*TRANSPORT_ERRORS):
                await hub.viewer_remove(stream_id, member)
        else:
            await hub.room_leave(stream_staff_room(stream_id), self)
        if in_room:
            await hub.room_leave(stream_id, self)

    # Client events --------------------------------------------------------------------------------
    async def _join_check(self, hub, stream_id: str):
        """The stream a join is for, through the one access check; most joins settle it on the event loop."""
        stream = await joins.join_stream_read(hub=hub, stream_id=stream_id)
        access = stream_viewer_access_settled(user=self.user, stream=stream)
        if access is None:  # a signed-in viewer of a pay-per-view stream: their ticket is read
            access = await database_sync_to_async(stream_viewer_access)(user=self.user, stream=stream)
        stream_access_require(access)
        return stream

    async def join_stream(self, data: dict) -> None:
        stream_id = self._stream_id(data)
        stream = await self._join_check(hub_get(), stream_id)
        exempt = stream_is_exempt(user=self.user, stream=stream)
        slow_mode_seconds = join_slow_mode(stream=stream)
        newly_joined = stream_id not in self.joined
        count = None
        if newly_joined:
            # Taken after the last await above: an idle hub may have stopped meanwhile.
            hub = hub_get()
            member = None if exempt else self._viewer_member()
            if member is not None:
                count = await hub.viewer_add(stream_id, member, stream.max_viewers)
                if count is None:
                    raise ApplicationError("This stream has reached its maximum number of viewers.", code="stream_full")
                metrics.STREAM_VIEWERS.labels(stream_id).inc()
                metrics.VIEWERS.inc()
            else:  # the artist and staff also hear the stream's alerts, in a room of their own
                await hub.room_join(stream_staff_room(stream_id), self)
            self.joined[stream_id] = (hub, member)
            try:
                await hub.room_join(stream_id, self)
            except BaseException:
                # Not in the room (its subscription failed): never answer joinedStream, and undo the
                # registration so the viewer is not counted (audit F3). A later join tries afresh.
                del self.joined[stream_id]
                await self._rooms_leave(hub, stream_id, member, in_room=False)
                raise
            if member is not None:  # the artist and staff watching are not the audience
                await self._session_open(stream)
        if count is None:
            count = await self.joined[stream_id][0].viewer_count(stream_id)
        await self.send_event(
            "joinedStream",
            {
                "streamId": stream_id,
                "viewerCount": count,
                "status": stream.status,
                "isChatEnabled": stream.is_chat_enabled,
                "slowModeSeconds": slow_mode_seconds,
                "sessionId": self.sessions.get(stream_id),
            },
        )
        hub, member = self.joined[stream_id]
        if newly_joined and member is not None:
            hub.count_changed(stream_id)

    async def leave_stream(self, data: dict) -> None:
        stream_id = self._joined_stream_id(data)
        await self._leave(stream_id)
        await self.send_event("leftStream", {"streamId": stream_id})

    async def send_chat_message(self, data: dict) -> None:
        stream_id = self._stream_id(data)
        if not self.user.is_authenticated:
            raise ApplicationError("Sign in to chat.", code="forbidden")
        if stream_id not in self.joined:
            raise ApplicationError("Join the stream first.", code="not_joined")
        values = inputs.frame_input(inputs.ChatMessageInput, data)
        message = await database_sync_to_async(services.chat_message_send)(
            stream_id=stream_id, user=self.user, **values
        )
        if message.broadcast is False:
            await self.send_error(
                "broadcast_failed",
                "Your message was saved, but it could not be sent to the room right now; it shows in the chat history.",
                "sendChatMessage",
                messageId=message.id,
            )

    async def report_quality(self, data: dict) -> None:
        stream_id = self._joined_stream_id(data)
        metrics = inputs.frame_input(inputs.QualityReportInput, data)
        given = metrics.pop("session_id", None)
        session_id = await self._report_session(stream_id, str(given) if given else None)
        if session_id is not None:
            await database_sync_to_async(analytics_services.quality_report_submit)(
                stream_id=stream_id, session_id=session_id, report=metrics
            )
        await self.send_event("qualityReported", {"streamId": stream_id, "metrics": sorted(camelize(metrics))})
        # Per-viewer advice, to this connection only, when the cap it advises changes.
        self.quality_advice[stream_id], advice = advice_update(report=metrics, state=self.quality_advice.get(stream_id))
        if advice is not None:
            await self.send_event("qualityAdvice", {"streamId": stream_id, **advice})

    # Moderation events (artist, staff, the stream's moderators) ----------------------------------
    async def delete_chat_message(self, data: dict) -> None:
        stream_id = self._stream_id(data)
        message_id = inputs.frame_input(inputs.MessageIdInput, data)["message_id"]
        await database_sync_to_async(services.chat_message_delete)(
            stream_id=stream_id, message_id=message_id, by_user=self.user
        )
        await self._moderation_done(stream_id, "deleteChatMessage", messageId=message_id)

    async def ban_user(self, data: dict) -> None:
        stream_id = self._stream_id(data)
        values = inputs.frame_input(inputs.BanInput, data)
        ban = await database_sync_to_async(services.chat_ban_create)(stream_id=stream_id, by_user=self.user, **values)
        expires_at = ban.expires_at.isoformat() if ban.expires_at else None
        await self._moderation_done(stream_id, "banUser", userId=ban.user_id, expiresAt=expires_at)

    async def unban_user(self, data: dict) -> None:
        stream_id = self._stream_id(data)
        user_id = inputs.frame_input(inputs.UserIdInput, data)["user_id"]
        await database_sync_to_async(services.chat_ban_remove)(stream_id=stream_id, user_id=user_id, by_user=self.user)
        await self._moderation_done(stream_id, "unbanUser", userId=user_id)

    async def update_chat_settings(self, data: dict) -> None:
        stream_id = self._stream_id(data)
        values = inputs.frame_input(inputs.SettingsInput, data)
        chat_settings = await database_sync_to_async(services.chat_settings_update)(
            stream_id=stream_id, by_user=self.user, **values
        )
        await self._moderation_done(
            stream_id,
            "updateChatSettings",
            slowModeSeconds=chat_settings.slow_mode_seconds,
            blockedTerms=chat_settings.blocked_terms,
        )

    async def _moderation_done(self, stream_id: str, action: str, **details) -> None:
        await self.send_event("moderationApplied", {"streamId": stream_id, "action": action, **details})

    HANDLERS = {
        "joinStream": join_stream,
        "leaveStream": leave_stream,
        "sendChatMessage": send_chat_message,
        "reportQuality": report_quality,
        "deleteChatMessage": delete_chat_message,
        "banUser": ban_user,
        "unbanUser": unban_user,
        "updateChatSettings": update_chat_settings,
    }
