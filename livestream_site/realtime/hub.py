"""One hub per event loop: its local rooms, the reader of their frames, viewer heartbeats, coalesced counts."""

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.conf import settings

from .transport import CONTROL_PREFIX, Transport, frame_encode

logger = logging.getLogger(__name__)

_hubs: dict[asyncio.AbstractEventLoop, "Hub"] = {}

# Room epochs: a fresh number whenever a room's subscription takes effect or a frame of it arrives.
_epochs = itertools.count(1)

# How long a join waits for its room's subscription to take effect.
ROOM_READY_SECONDS = 10


class RoomUnavailable(Exception):
    """The stream's room could not be subscribed: the real-time transport is unreachable."""


# Called as hook(stream_id=..., viewers=...) in a worker thread when a hub sees a new peak of a
# stream's viewers. The transport knows no app: the app that keeps peaks registers its write here.
_viewer_peak_hook: Callable[..., object] | None = None


def viewer_peak_hook_set(hook: Callable[..., object] | None) -> None:
    """Register the one callable told of a new peak of viewers: hook(stream_id=str, viewers=int); None for none."""
    global _viewer_peak_hook
    _viewer_peak_hook = hook


# Awaited as hook(connections) on every heartbeat of a hub, with the set of its connections in rooms,
# so an app can keep per-connection state alive (analytics' viewer sessions) in one batch per process.
_heartbeat_hook: Callable[..., Awaitable[object]] | None = None


def heartbeat_hook_set(hook: Callable[..., Awaitable[object]] | None) -> None:
    """Register the one coroutine function awaited on each hub heartbeat: hook(connections: set); None for none."""
    global _heartbeat_hook
    _heartbeat_hook = hook


async def _viewer_peak_notify(stream_id: str, count: int) -> None:
    hook = _viewer_peak_hook
    if hook is not None:
        # In a thread: the hook writes to the database, which must not block the event loop.
        await database_sync_to_async(hook)(stream_id=stream_id, viewers=count)


def hub_for(transport: Transport) -> "Hub":
    """The hub of the running event loop (made on first use, and again after it stopped idle)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(loop, transport)
    return hub


class Hub:
    """This loop's rooms: local viewers by stream, the frame reader, heartbeats, count updates."""

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: Transport):
        self.loop = loop
        self.transport = transport
        self.link = transport.link_open(loop, deliver=self._deliver, subscribed=self._room_ready)
        self.rooms: dict[str, set] = {}
        self.ready: dict[str, asyncio.Event] = {}
        self.epochs: dict[str, int] = {}  # stream -> its room's epoch (see room_epoch)
        self.members: dict[str, set[str]] = {}  # stream -> viewer members registered by this hub
        self.flush_tasks: dict[str, asyncio.Task] = {}
        self.dirty: set[str] = set()
        self.peaks: dict[str, int] = {}
        self.tasks: list[asyncio.Task] = []
        self.stopped = False

    # Rooms ---------------------------------------------------------------------------------------
    async def room_join(self, stream_id: str, connection) -> None:
        """Add a local connection to a stream's room; returns once frames of that room reach it.

        Raises RoomUnavailable when the room cannot be subscribed (the transport is down): the room is
        then undone, so the next join subscribes afresh instead of waiting on a room that will never
        be ready (audit F3), and the connection is not in it.
        """
        room = self.rooms.get(stream_id)
        if room is None:
            room = self.rooms[stream_id] = set()
            ready = self.ready[stream_id] = asyncio.Event()
            self._start()
            try:
                await self.transport.room_subscribe(self.link, stream_id)
            except Exception as exc:
                self._room_drop(stream_id, room)
                ready.set()  # wakes the joins waiting on this attempt: they see the room is gone
                raise RoomUnavailable(stream_id) from exc
        ready = self.ready[stream_id]
        room.add(connection)
        try:
            await asyncio.wait_for(ready.wait(), timeout=ROOM_READY_SECONDS)
        except TimeoutError:
            self._room_drop(stream_id, room)
            ready.set()
            await self._room_unsubscribe(stream_id)
            raise RoomUnavailable(stream_id) from None
        if self.rooms.get(stream_id) is not room:
            raise RoomUnavailable(stream_id)

    def _room_drop(self, stream_id: str, room: set) -> None:
        if self.rooms.get(stream_id) is room:
            del self.rooms[stream_id]
            self.ready.pop(stream_id, None)
            self.epochs.pop(stream_id, None)

    def room_epoch(self, stream_id: str) -> int | None:
        """A number that changes with every frame the stream's room receives; None while it is not subscribed.

        What a caller read about the stream while the epoch stayed the same has not been changed by any
        service since (services announce their changes to the room after commit): a join may reuse it.
        """
        return self.epochs.get(stream_id)

    async def _room_unsubscribe(self, stream_id: str) -> None:
        try:
            await self.transport.room_unsubscribe(self.link, stream_id)
        except Exception:
            logger.warning("could not unsubscribe from room %s", stream_id, exc_info=True)

    def _room_ready(self, stream_id: str) -> None:
        event = self.ready.get(stream_id)
        if event is not None:
            self.epochs[stream_id] = next(_epochs)
            event.set()

    async def room_leave(self, stream_id: str, connection) -> None:
        members = self.rooms.get(stream_id)
        if members is None:
            return
        members.discard(connection)
        if not members:
            del self.rooms[stream_id]
            self.ready.pop(stream_id, None)
            self.epochs.pop(stream_id, None)
            await self._room_unsubscribe(stream_id)
            await self._maybe_stop()

    async def publish(self, stream_id: str, text: str) -> None:
        """Send an encoded frame to every viewer of the stream, in every process (from this loop)."""
        await self.transport.room_publish_async(self.link, stream_id, text)

    async def _deliver(self, stream_id: str, text: str) -> None:
        if stream_id in self.epochs:
            self.epochs[stream_id] = next(_epochs)
        connections = self.rooms.get(stream_id)
        if not connections:
            return
        if text.startswith(CONTROL_PREFIX):
            self._control(stream_id, text, connections)
            return
        native = {"type": "websocket.send", "text": text}
        # Other protocols (Socket.IO) name their encoding of a frame as the connection's
        # `frame_format`; each encoding is made once per frame and room, never per viewer. A native
        # connection with a `room_write` (under daphne) takes the frame written straight to its socket.
        messages: dict = {}
        for connection in list(connections):
            frame_format = getattr(connection, "frame_format", None)
            if frame_format is None:
                room_write = getattr(connection, "room_write", None)
                if room_write is not None:
                    try:
                        room_write(text)
                    except Exception:  # a closing socket must not stop the others' delivery
                        logger.debug("could not deliver to a connection of %s", stream_id, exc_info=True)
                    continue
                message = native
            else:
                message = messages.get(frame_format)
                if message is None:
                    message = messages[frame_format] = frame_format(text)
            try:
                await connection.server_send(message)
            except Exception:  # a closing socket must not stop the others' delivery
                logger.debug("could not deliver to a connection of %s", stream_id, exc_info=True)

    def _control(self, stream_id: str, text: str, connections: set) -> None:
        """Hand a control message to each connection of the room that takes them: `room_control(stream_id,
        control)` decides at once whether it is concerned (and starts its own task if it must wait)."""
        try:
            control = json.loads(text[len(CONTROL_PREFIX) :])
        except ValueError:
            logger.warning("room %s: unreadable control message dropped", stream_id)
            return
        for connection in list(connections):
            handler = getattr(connection, "room_control", None)
            if handler is None:
                continue
            try:
                handler(stream_id, control)
            except Exception:
                logger.exception("room %s: a connection failed on a %r control", stream_id, control.get("kind"))

    def _start(self) -> None:
        if self.tasks:
            return
        reader = self.transport.room_read(self.link)
        self.tasks = [self.loop.create_task(reader), self.loop.create_task(self._heartbeat())]

    async def _maybe_stop(self) -> None:
        """Stop an idle hub (no rooms, viewers or pending updates); the next join starts a new one."""
        if self.stopped or self.rooms or self.flush_tasks or self.members:
            return
        # Decided without awaiting: from here on hub_get() hands out a new hub.
        self.stopped = True
        if _hubs.get(self.loop) is self:
            del _hubs[self.loop]
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self.transport.link_close(self.link)
        logger.debug("hub of this process stopped: no rooms left")

    # Viewers -------------------------------------------------------------------------------------
    def _ttl_ms(self) -> int:
        return int(settings.VIEWER_TTL_SECONDS * 1000)

    async def viewer_add(self, stream_id: str, member: str, limit: int | None) -> int | None:
        """Register a viewer's connection; None when the stream is full. Returns the viewer count.

        The caller announces the change with count_changed() once the viewer has its joinedStream.
        """
        # Registered before the first await, so this hub cannot go idle and stop meanwhile.
        self.members.setdefault(stream_id, set()).add(member)
        try:
            count = await self.transport.viewer_add(
                self.link, stream_id=stream_id, member=member, limit=limit or 0, ttl_ms=self._ttl_ms()
            )
        except BaseException:
            self._member_forget(stream_id, member)
            raise
        if count < 0:
            self._member_forget(stream_id, member)
            await self._maybe_stop()
            return None
        self._start()
        return count

    def _member_forget(self, stream_id: str, member: str) -> None:
        local = self.members.get(stream_id)
        if local is not None:
            local.discard(member)
            if not local:
                del self.members[stream_id]

    async def viewer_remove(self, stream_id: str, member: str) -> None:
        # Forgotten first: if the transport is down the entry expires by its TTL, and the heartbeat
        # must not keep a viewer who left alive.
        self._member_forget(stream_id, member)
        try:
            await self.transport.viewer_remove(self.link, stream_id=stream_id, member=member)
        finally:
            self.count_changed(stream_id)

    async def viewer_count(self, stream_id: str) -> int:
        return await self.transport.viewer_count(self.link, stream_id=stream_id)

    async def _heartbeat(self) -> None:
        """Keep this hub's viewers alive in the registry, and correct counts after a process died."""
        while True:
            await asyncio.sleep(settings.VIEWER_HEARTBEAT_SECONDS)
            try:
                await self.transport.viewers_refresh(self.link, members=self.members, ttl_ms=self._ttl_ms())
            except Exception:
                logger.exception("viewer heartbeat failed")
            hook = _heartbeat_hook
            if hook is not None and self.rooms:
                try:
                    await hook({connection for room in self.rooms.values() for connection in room})
                except Exception:
                    logger.exception("heartbeat hook failed")
            for stream_id in list(self.members):
                self.count_changed(stream_id)

    # viewerCountUpdate, coalesced ------------------------------------------------------------------
    def count_changed(self, stream_id: str) -> None:
        """Note that a stream's count may have changed; at most one update per interval goes out."""
        self.dirty.add(stream_id)
        if stream_id not in self.flush_tasks:
            self.flush_tasks[stream_id] = self.loop.create_task(self._flush(stream_id))

    async def _flush(self, stream_id: str) -> None:
        try:
            while stream_id in self.dirty:
                wait = await self.transport.count_slot_take(
                    self.link, stream_id=stream_id, interval_seconds=settings.VIEWER_COUNT_INTERVAL_SECONDS
                )
                if wait:
                    await asyncio.sleep(wait)
                    continue
                self.dirty.discard(stream_id)
                count = await self.viewer_count(stream_id)
                if await self.transport.count_swap(self.link, stream_id=stream_id, count=count) != count:
                    text = frame_encode("viewerCountUpdate", {"streamId": stream_id, "viewerCount": count})
                    await self.publish(stream_id, text)
                    logger.debug("viewer count of %s: %s", stream_id, count)
                if count > self.peaks.get(stream_id, 0):
                    self.peaks[stream_id] = count
                    await _viewer_peak_notify(stream_id, count)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("could not update the viewer count of %s", stream_id)
        finally:
            self.flush_tasks.pop(stream_id, None)
            self.dirty.discard(stream_id)
        await self._maybe_stop()
