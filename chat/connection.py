"""One viewer's live connection, whatever its protocol: joining, leaving, chat, quality reports, moderation, limits, errors.

The native WebSocket consumer (chat.consumers) and the Socket.IO adapter (chat.socketio) both hand
each client event to `ViewerConnection.event_receive` and write what it answers in their own
encoding (`event_write`); neither holds a rule of its own. A connection is also what the stream
rooms' hub delivers frames to: it writes `server_send(message)`, where the message is the room
frame in the encoding the connection's `frame_format` names (the native frame when it names none).
"""

import abc
import asyncio
import collections
import contextlib
import hashlib
import logging
import time
import uuid

from channels.db import database_sync_to_async
from django.conf import settings
from djangorestframework_camel_case.util import camelize

from analytics import clients as viewer_clients
from analytics import services as analytics_services
from analytics.advice import advice_update
from analytics.selectors import session_streams
from livestream_site import metrics
from livestream_site.errors import ApplicationError
from livestream_site.events import stream_staff_room
from livestream_site.realtime import TRANSPORT_ERRORS, hub_get
from payments.selectors import stream_access_require, stream_viewer_access, stream_viewer_access_settled

from . import inputs, joins, services
from .selectors import join_slow_mode, stream_for_join, stream_is_exempt

logger = logging.getLogger(__name__)

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


# Anonymous connections of this process per client address (WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS),
# whatever their protocol.
_anonymous_connections: collections.Counter = collections.Counter()


def anonymous_connection_take(address: str | None) -> bool:
    if address is None:
        return True  # no address to count by (a test client, a unix socket)
    if _anonymous_connections[address] >= settings.WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS:
        return False
    _anonymous_connections[address] += 1
    return True


def anonymous_connection_release(address: str | None) -> None:
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


def _room_ban_check(user, stream) -> None:
    """A ban without end keeps a user out of the stream's room (a timeout only silences): `banned`.
    The stream comes from `stream_for_join`, which read who is banned for good with it."""
    if (
        user.is_authenticated
        and user.id in stream.room_banned_user_ids
        and not stream_is_exempt(user=user, stream=stream)
    ):
        raise ApplicationError("You are banned from this stream.", code="banned")


def _watch_check(user, stream_id):
    """The stream, if the user may be in its room now (the re-check after a revoke; in a thread)."""
    stream = stream_for_join(stream_id=stream_id)
    stream_access_require(stream_viewer_access(user=user, stream=stream))
    _room_ban_check(user, stream)
    return stream


class ViewerConnection(abc.ABC):
    """The client events of one connection and what they answer; a protocol adapter supplies the rest.

    The adapter sets `user` and `scope` (the ASGI scope of the connection's handshake), calls
    `connection_open()` once accepted and `connection_close()` once gone, counts each incoming
    frame with `flooding()`, and implements `event_write` (and `server_send` for room frames).
    """

    user = None
    scope: dict

    def connection_open(self) -> None:
        self.connection_id = uuid.uuid4().hex
        # stream id -> (the hub of the room, viewer-registry member or None when exempt)
        self.joined: dict[str, tuple] = {}
        self.frames: collections.deque = collections.deque()
        self.events: collections.deque = collections.deque()
        self.sessions: dict[str, str] = {}  # stream id -> the viewer session of this connection
        self.quality_advice: dict[str, dict | None] = {}  # stream id -> the advice in force (analytics.advice)
        self.rechecks: dict[str, asyncio.Task] = {}  # stream id -> an access check after a revoke (room_control)

    def client_address(self) -> str | None:
        headers = viewer_clients.scope_headers(self.scope)
        return viewer_clients.client_address(headers=headers, peer=(self.scope.get("client") or [None])[0])

    closed = False

    async def connection_close(self) -> None:
        """Leave every stream this connection joined (its rooms, the viewer count, its viewer sessions).

        Safe to call again, and while an event is still being handled: a join that completes after the
        connection closed is undone by calling this once more when its handler returns.
        """
        self.closed = True
        for task in list(getattr(self, "rechecks", {}).values()):
            task.cancel()
        for stream_id in list(getattr(self, "joined", {})):
            if stream_id in self.joined:
                await self._leave(stream_id)
        for stream_id in list(getattr(self, "sessions", {})):
            await self._session_close(stream_id)

    # Frames ---------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def event_write(self, event: str, data: dict) -> None:
        """Write one server event to this client, in the protocol's encoding."""

    async def send_event(self, event: str, data: dict) -> dict:
        await self.event_write(event, data)
        return data

    async def send_error(self, code: str, message: str, event=None, **extra) -> dict:
        return await self.send_event("error", {"code": code, "message": message, "event": event, **extra})

    async def refusal_send(self, error: ApplicationError, event: str | None) -> dict:
        """Tell the client why its event was refused: an `error` event; returns its data."""
        extra = {"retryAfter": error.fields["retry_after"]} if "retry_after" in error.fields else {}
        # The fields a refusal names (chat.inputs' or a service's), camelCase like the frame's keys.
        fields = {name: problems for name, problems in error.fields.items() if name != "retry_after"}
        if fields:
            extra["fields"] = camelize(fields)
        metrics.REFUSED_EVENTS.labels(error.code).inc()
        return await self.send_error(error.code, error.message, event, **extra)

    def _count(self, hits: collections.deque, limit: int) -> bool:
        """Record a hit in a sliding window; False when over `limit`."""
        now = time.monotonic()
        while hits and hits[0] <= now - settings.WS_EVENT_RATE_SECONDS:
            hits.popleft()
        hits.append(now)
        return len(hits) <= limit

    def flooding(self) -> bool:
        """Count one incoming frame; True when the connection keeps flooding and is to be closed."""
        return not self._count(self.frames, settings.WS_FLOOD_LIMIT)

    async def event_receive(self, event: str, data) -> dict | None:
        """Handle one client event; every outcome is answered (the event's answer or an `error`).

        Returns the data of that answer (what a Socket.IO acknowledgement carries).
        """
        event = event[:64]
        try:
            if not isinstance(data, dict):
                raise BadFrame("data must be an object.", fields={"data": ["Must be an object."]})
            handler = self.HANDLERS.get(event)
            if event != "sendChatMessage" and not self._count(self.events, settings.WS_EVENT_RATE_LIMIT):
                raise ApplicationError("Too many events; slow down.", code="rate_limited")
            if handler is None:
                raise ApplicationError(f"Unknown event {event!r}.", code="unknown_event")
            return await handler(self, data)
        except ApplicationError as error:
            return await self.refusal_send(error, event)
        except TRANSPORT_ERRORS as error:
            # Redis down or restarting: nothing the client did wrong; it may try again shortly.
            logger.warning("connection %s: %s: real-time transport unavailable (%r)", self.connection_id, event, error)
            return await self.send_error(
                "unavailable", "Live features are unavailable for a moment; try again shortly.", event
            )
        except Exception:  # nothing a client sends may crash the connection
            logger.exception("connection %s: %s failed", self.connection_id, event)
            return await self.send_error("bad_request", "The event could not be processed.", event)

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
                "connection %s: the viewer session of %s could not be opened", self.connection_id, stream.id
            )

    async def _session_close(self, stream_id: str) -> None:
        session_id = self.sessions.pop(stream_id, None)
        if session_id is None:
            return
        try:
            await database_sync_to_async(analytics_services.session_close)(session_id=session_id)
        except Exception:
            logger.exception("connection %s: the viewer session %s could not be closed", self.connection_id, session_id)

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
        # Taken out of `joined` before any await: one leave per join, whoever asks (the client, an
        # access re-check, the connection closing), and a leave running meanwhile finds nothing to do.
        joined = self.joined.pop(stream_id, None)
        if joined is None:
            return
        hub, member = joined
        await self._session_close(stream_id)
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

    # Room control (from the hub) ------------------------------------------------------------------
    def room_control(self, stream_id: str, control: dict) -> None:
        """A control message of a room this connection is in. "revoke": the users named (None: every
        viewer) may have lost access (refund, ban, cancellation); a viewer concerned checks again and
        leaves the room if access is gone (audit F7). Decided at once; the check runs in its own task."""
        if control.get("kind") != "revoke" or stream_id in self.rechecks or self.closed:
            return
        joined = self.joined.get(stream_id)
        if joined is None or joined[1] is None:  # not a viewer here (the artist and staff keep access)
            return
        user_ids = control.get("userIds")
        if user_ids is not None and (not self.user.is_authenticated or self.user.id not in user_ids):
            return
        task = asyncio.get_running_loop().create_task(self._access_recheck(stream_id))
        self.rechecks[stream_id] = task
        task.add_done_callback(lambda _task: self.rechecks.pop(stream_id, None))

    async def _access_recheck(self, stream_id: str) -> None:
        try:
            await database_sync_to_async(_watch_check)(self.user, stream_id)
            return  # still allowed (another ticket, a ban already lifted)
        except ApplicationError as error:
            refusal = error
        except Exception:
            logger.exception("connection %s: the access check of %s failed", self.connection_id, stream_id)
            return
        if stream_id not in self.joined:
            return
        await self._leave(stream_id)
        logger.info("connection %s: removed from %s (%s)", self.connection_id, stream_id, refusal.code)
        with contextlib.suppress(Exception):  # the connection may be closing meanwhile
            await self.send_error(
                refusal.code, f"You can no longer watch this stream: {refusal.message}", None, streamId=stream_id
            )
            await self.send_event("leftStream", {"streamId": stream_id, "reason": refusal.code})

    # Client events --------------------------------------------------------------------------------
    async def _join_check(self, hub, stream_id: str):
        """The stream a join is for, through the one access check; most joins settle it on the event loop."""
        stream = await joins.join_stream_read(hub=hub, stream_id=stream_id)
        access = stream_viewer_access_settled(user=self.user, stream=stream)
        if access is None:  # a signed-in viewer of a pay-per-view stream: their ticket is read
            access = await database_sync_to_async(stream_viewer_access)(user=self.user, stream=stream)
        stream_access_require(access)
        _room_ban_check(self.user, stream)
        return stream

    async def join_stream(self, data: dict) -> dict:
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
                self.joined.pop(stream_id, None)  # (a close meanwhile may have undone it already)
                await self._rooms_leave(hub, stream_id, member, in_room=False)
                raise
            if member is not None:  # the artist and staff watching are not the audience
                await self._session_open(stream)
        if count is None:
            count = await self.joined[stream_id][0].viewer_count(stream_id)
        answer = await self.send_event(
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
        return answer

    async def leave_stream(self, data: dict) -> dict:
        stream_id = self._joined_stream_id(data)
        await self._leave(stream_id)
        return await self.send_event("leftStream", {"streamId": stream_id})

    async def send_chat_message(self, data: dict) -> dict:
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
            return await self.send_error(
                "broadcast_failed",
                "Your message was saved, but it could not be sent to the room right now; it shows in the chat history.",
                "sendChatMessage",
                messageId=message.id,
            )
        # No event answers a sent message (it comes back to everyone as newChatMessage); an
        # acknowledgement (Socket.IO) gets its id.
        return {"streamId": stream_id, "messageId": message.id}

    async def report_quality(self, data: dict) -> dict:
        stream_id = self._joined_stream_id(data)
        metrics = inputs.frame_input(inputs.QualityReportInput, data)
        given = metrics.pop("session_id", None)
        session_id = await self._report_session(stream_id, str(given) if given else None)
        if session_id is not None:
            await database_sync_to_async(analytics_services.quality_report_submit)(
                stream_id=stream_id, session_id=session_id, report=metrics
            )
        answer = await self.send_event("qualityReported", {"streamId": stream_id, "metrics": sorted(camelize(metrics))})
        # Per-viewer advice, to this connection only, when the cap it advises changes.
        self.quality_advice[stream_id], advice = advice_update(report=metrics, state=self.quality_advice.get(stream_id))
        if advice is not None:
            await self.send_event("qualityAdvice", {"streamId": stream_id, **advice})
        return answer

    # Moderation events (artist, staff, the stream's moderators) ----------------------------------
    async def delete_chat_message(self, data: dict) -> dict:
        stream_id = self._stream_id(data)
        message_id = inputs.frame_input(inputs.MessageIdInput, data)["message_id"]
        await database_sync_to_async(services.chat_message_delete)(
            stream_id=stream_id, message_id=message_id, by_user=self.user
        )
        return await self._moderation_done(stream_id, "deleteChatMessage", messageId=message_id)

    async def ban_user(self, data: dict) -> dict:
        stream_id = self._stream_id(data)
        values = inputs.frame_input(inputs.BanInput, data)
        ban = await database_sync_to_async(services.chat_ban_create)(stream_id=stream_id, by_user=self.user, **values)
        expires_at = ban.expires_at.isoformat() if ban.expires_at else None
        return await self._moderation_done(stream_id, "banUser", userId=ban.user_id, expiresAt=expires_at)

    async def unban_user(self, data: dict) -> dict:
        stream_id = self._stream_id(data)
        user_id = inputs.frame_input(inputs.UserIdInput, data)["user_id"]
        await database_sync_to_async(services.chat_ban_remove)(stream_id=stream_id, user_id=user_id, by_user=self.user)
        return await self._moderation_done(stream_id, "unbanUser", userId=user_id)

    async def update_chat_settings(self, data: dict) -> dict:
        stream_id = self._stream_id(data)
        values = inputs.frame_input(inputs.SettingsInput, data)
        chat_settings = await database_sync_to_async(services.chat_settings_update)(
            stream_id=stream_id, by_user=self.user, **values
        )
        return await self._moderation_done(
            stream_id,
            "updateChatSettings",
            slowModeSeconds=chat_settings.slow_mode_seconds,
            blockedTerms=chat_settings.blocked_terms,
        )

    async def _moderation_done(self, stream_id: str, action: str, **details) -> dict:
        return await self.send_event("moderationApplied", {"streamId": stream_id, "action": action, **details})

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
