"""Cross-process fan-out of stream rooms, live viewer counts and rate limits (Redis, or in-process).

One `Hub` per server process (per event loop) holds the WebSocket connections of that process, by
stream. With Redis, the hub keeps ONE pub/sub subscription per stream that has local viewers; a
frame is JSON-encoded once by whoever publishes it and written as-is to every local viewer, so a
chat message costs one PUBLISH and one delivery per process, never per viewer. Without REDIS_URL
the same hub delivers in-process, so the embedded default behaves the same way in one process.
"""

import asyncio
import collections
import json
import logging
import threading
import time
import uuid

import redis
import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)

ROOM_PREFIX = "rt:room:"
VIEWERS_PREFIX = "rt:viewers:"

# Viewers of a stream: a sorted set of "<viewer>|<connection>" scored by expiry (ms). A connection
# refreshes its score on every heartbeat; a dead process's connections expire on their own.
# Distinct viewers are counted by the part before "|" (a user, or one anonymous connection).
# Drop expired connections, then count distinct viewers into `n` (and remember them in `seen`).
_VIEWERS_SEEN_LUA = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local seen = {}
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local k = string.match(m, '^([^|]+)|')
  if k and not seen[k] then seen[k] = true; n = n + 1 end
end
"""
_VIEWER_COUNT_LUA = _VIEWERS_SEEN_LUA + "return n\n"
# Add a connection unless its viewer is new and the stream is full (then -1): one script, so two
# processes cannot both take the last seat.
_VIEWER_ADD_LUA = (
    _VIEWERS_SEEN_LUA
    + """
local limit = tonumber(ARGV[5])
if not seen[ARGV[4]] then
  if limit > 0 and n >= limit then return -1 end
  n = n + 1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return n
"""
)
# Sliding-window log: at most ARGV[2] hits in the last ARGV[3] ms. Returns 0, or ms until allowed.
_RATE_LIMIT_LUA = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def frame_encode(event: str, data: dict) -> str:
    """The one JSON encoding of a server-to-client frame."""
    return json.dumps({"event": event, "data": data}, separators=(",", ":"), default=str)


# --- Sync side: publishing from services, rate limits -------------------------------------------

_sync_client: redis.Redis | None = None
_sync_lock = threading.Lock()


def redis_sync() -> redis.Redis | None:
    global _sync_client
    if not settings.REDIS_URL:
        return None
    with _sync_lock:
        if _sync_client is None:
            _sync_client = redis.Redis.from_url(settings.REDIS_URL)
        return _sync_client


def room_publish(stream_id, text: str) -> None:
    """Send an encoded frame to every viewer of the stream, in every process (sync callers)."""
    client = redis_sync()
    if client is not None:
        client.publish(ROOM_PREFIX + str(stream_id), text)
        return
    for hub in list(_hubs.values()):
        hub.deliver_threadsafe(str(stream_id), text)


_local_windows: dict[str, collections.deque] = {}
_local_slow: dict[str, float] = {}
_local_lock = threading.Lock()


def rate_limit_hit(*, key: str, limit: int, window_seconds: float) -> float:
    """Count one hit against `key`; 0 when allowed, else the seconds to wait (the hit is not counted)."""
    window_ms = int(window_seconds * 1000)
    client = redis_sync()
    if client is not None:
        wait_ms = client.eval(_RATE_LIMIT_LUA, 1, "rt:rl:" + key, now_ms(), limit, window_ms, uuid.uuid4().hex)
        return int(wait_ms) / 1000
    with _local_lock:
        now = time.monotonic()
        hits = _local_windows.setdefault(key, collections.deque())
        while hits and hits[0] <= now - window_seconds:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.001, hits[0] + window_seconds - now)
        hits.append(now)
        return 0


def slow_mode_hit(*, key: str, seconds: int) -> float:
    """One message per `seconds` per key; 0 when allowed, else the seconds to wait."""
    client = redis_sync()
    if client is not None:
        full_key = "rt:slow:" + key
        if client.set(full_key, 1, nx=True, px=seconds * 1000):
            return 0
        return max(int(client.pttl(full_key)), 1) / 1000
    with _local_lock:
        now = time.monotonic()
        until = _local_slow.get(key, 0)
        if until > now:
            return until - now
        _local_slow[key] = now + seconds
        return 0


# --- Async side: one hub per process --------------------------------------------------------------

_hubs: dict[asyncio.AbstractEventLoop, "Hub"] = {}
# The in-process viewer registry when there is no Redis: {stream_id: {member: expiry_ms}}.
_local_viewers: dict[str, dict[str, int]] = {}
_local_counts: dict[str, tuple[float, int | None]] = {}  # stream -> (next slot, last count sent)


def hub_get() -> "Hub":
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(loop)
    return hub


class Hub:
    """This process's rooms: local viewers by stream, the pub/sub reader, heartbeats, count updates."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.rooms: dict[str, set] = {}
        self.ready: dict[str, asyncio.Event] = {}
        self.members: dict[str, set[str]] = {}  # stream -> viewer members registered by this process
        self.flush_tasks: dict[str, asyncio.Task] = {}
        self.dirty: set[str] = set()
        self.peaks: dict[str, int] = {}
        self.redis = redis.asyncio.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
        self.pubsub = self.redis.pubsub() if self.redis else None
        self.queue: asyncio.Queue | None = None if self.redis else asyncio.Queue()
        self.tasks: list[asyncio.Task] = []
        self.stopped = False

    # Rooms ---------------------------------------------------------------------------------------
    async def room_join(self, stream_id: str, connection) -> None:
        """Add a local connection to a stream's room; returns once frames of that room reach it."""
        if stream_id not in self.rooms:
            self.rooms[stream_id] = {connection}
            self.ready[stream_id] = ready = asyncio.Event()
            self._start()
            if self.pubsub is not None:
                await self.pubsub.subscribe(ROOM_PREFIX + stream_id)
                logger.debug("subscribed to room %s", stream_id)
            else:
                ready.set()
        self.rooms[stream_id].add(connection)
        await asyncio.wait_for(self.ready[stream_id].wait(), timeout=10)

    async def room_leave(self, stream_id: str, connection) -> None:
        members = self.rooms.get(stream_id)
        if members is None:
            return
        members.discard(connection)
        if not members:
            del self.rooms[stream_id]
            self.ready.pop(stream_id, None)
            if self.pubsub is not None:
                try:
                    await self.pubsub.unsubscribe(ROOM_PREFIX + stream_id)
                except Exception:
                    logger.exception("could not unsubscribe from room %s", stream_id)
            await self._maybe_stop()

    async def publish(self, stream_id: str, text: str) -> None:
        if self.redis is not None:
            await self.redis.publish(ROOM_PREFIX + stream_id, text)
        else:
            for hub in list(_hubs.values()):
                hub.deliver_threadsafe(stream_id, text)

    def deliver_threadsafe(self, stream_id: str, text: str) -> None:
        """In-process delivery (no Redis): queue the frame on this hub's loop, from any thread."""
        if self.queue is None or self.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.queue.put_nowait((stream_id, text))
        else:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (stream_id, text))

    async def _deliver(self, stream_id: str, text: str) -> None:
        connections = self.rooms.get(stream_id)
        if not connections:
            return
        message = {"type": "websocket.send", "text": text}
        for connection in list(connections):
            try:
                await connection.server_send(message)
            except Exception:  # a closing socket must not stop the others' delivery
                logger.debug("could not deliver to a connection of %s", stream_id, exc_info=True)

    def _start(self) -> None:
        if self.tasks:
            return
        reader = self._read_redis() if self.pubsub is not None else self._read_queue()
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
        if self.pubsub is not None:
            await self.pubsub.aclose()
            await self.redis.aclose()
        logger.debug("hub of this process stopped: no rooms left")

    async def _read_queue(self) -> None:
        while True:
            stream_id, text = await self.queue.get()
            await self._deliver(stream_id, text)

    async def _read_redis(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("room subscription failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            stream_id = message["channel"].decode()[len(ROOM_PREFIX) :]
            if message["type"] == "message":
                await self._deliver(stream_id, message["data"].decode())
            elif message["type"] == "subscribe" and stream_id in self.ready:
                self.ready[stream_id].set()

    # Viewers -------------------------------------------------------------------------------------
    def _ttl_ms(self) -> int:
        return int(settings.VIEWER_TTL_SECONDS * 1000)

    async def viewer_add(self, stream_id: str, member: str, limit: int | None) -> int | None:
        """Register a viewer's connection; None when the stream is full. Returns the viewer count.

        The caller announces the change with count_changed() once the viewer has its joinedStream.
        """
        # Registered before the first await, so this hub cannot go idle and stop meanwhile.
        self.members.setdefault(stream_id, set()).add(member)
        viewer = member.split("|", 1)[0]
        now = now_ms()
        if self.redis is not None:
            try:
                count = await self.redis.eval(
                    _VIEWER_ADD_LUA,
                    1,
                    VIEWERS_PREFIX + stream_id,
                    now,
                    now + self._ttl_ms(),
                    member,
                    viewer,
                    limit or 0,
                    self._ttl_ms() * 2,
                )
            except BaseException:
                self._member_forget(stream_id, member)
                raise
            count = int(count)
        else:
            viewers = _local_viewers.setdefault(stream_id, {})
            for key in [key for key, expiry in viewers.items() if expiry <= now]:
                del viewers[key]
            distinct = {key.split("|", 1)[0] for key in viewers}
            if viewer not in distinct and limit and len(distinct) >= limit:
                count = -1
            else:
                viewers[member] = now + self._ttl_ms()
                count = len(distinct | {viewer})
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
        if self.redis is not None:
            await self.redis.zrem(VIEWERS_PREFIX + stream_id, member)
        else:
            _local_viewers.get(stream_id, {}).pop(member, None)
        self._member_forget(stream_id, member)
        self.count_changed(stream_id)

    async def viewer_count(self, stream_id: str) -> int:
        now = now_ms()
        if self.redis is not None:
            return int(await self.redis.eval(_VIEWER_COUNT_LUA, 1, VIEWERS_PREFIX + stream_id, now))
        viewers = _local_viewers.get(stream_id, {})
        return len({key.split("|", 1)[0] for key, expiry in viewers.items() if expiry > now})

    async def _heartbeat(self) -> None:
        """Keep this process's viewers alive in the registry, and correct counts after a process died."""
        while True:
            await asyncio.sleep(settings.VIEWER_HEARTBEAT_SECONDS)
            expiry = now_ms() + self._ttl_ms()
            try:
                if self.redis is not None:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for stream_id, members in self.members.items():
                            key = VIEWERS_PREFIX + stream_id
                            pipe.zadd(key, dict.fromkeys(members, expiry), xx=True)
                            pipe.pexpire(key, self._ttl_ms() * 2)
                        await pipe.execute()
                else:
                    for stream_id, members in self.members.items():
                        viewers = _local_viewers.setdefault(stream_id, {})
                        for member in members:
                            viewers[member] = expiry
            except Exception:
                logger.exception("viewer heartbeat failed")
            for stream_id in list(self.members):
                self.count_changed(stream_id)

    # viewerCountUpdate, coalesced ------------------------------------------------------------------
    def count_changed(self, stream_id: str) -> None:
        """Note that a stream's count may have changed; at most one update per interval goes out."""
        self.dirty.add(stream_id)
        if stream_id not in self.flush_tasks:
            self.flush_tasks[stream_id] = self.loop.create_task(self._flush(stream_id))

    async def _count_slot(self, stream_id: str) -> float:
        """Take the stream's update slot for one interval (across processes); else seconds to wait."""
        interval = settings.VIEWER_COUNT_INTERVAL_SECONDS
        if self.redis is not None:
            key = "rt:vc-slot:" + stream_id
            if await self.redis.set(key, 1, nx=True, px=max(1, int(interval * 1000))):
                return 0
            return max(int(await self.redis.pttl(key)), 1) / 1000
        now = time.monotonic()
        next_slot, last = _local_counts.get(stream_id, (0.0, None))
        if next_slot > now:
            return next_slot - now
        _local_counts[stream_id] = (now + interval, last)
        return 0

    async def _count_swap(self, stream_id: str, count: int) -> int | None:
        """Record the count sent for the stream; returns the one sent before."""
        if self.redis is not None:
            previous = await self.redis.set("rt:vc-last:" + stream_id, count, ex=3600, get=True)
            return None if previous is None else int(previous)
        next_slot, last = _local_counts.get(stream_id, (0.0, None))
        _local_counts[stream_id] = (next_slot, count)
        return last

    async def _flush(self, stream_id: str) -> None:
        try:
            while stream_id in self.dirty:
                wait = await self._count_slot(stream_id)
                if wait:
                    await asyncio.sleep(wait)
                    continue
                self.dirty.discard(stream_id)
                count = await self.viewer_count(stream_id)
                if await self._count_swap(stream_id, count) != count:
                    text = frame_encode("viewerCountUpdate", {"streamId": stream_id, "viewerCount": count})
                    await self.publish(stream_id, text)
                    logger.debug("viewer count of %s: %s", stream_id, count)
                if count > self.peaks.get(stream_id, 0):
                    self.peaks[stream_id] = count
                    await _peak_record(stream_id, count)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("could not update the viewer count of %s", stream_id)
        finally:
            self.flush_tasks.pop(stream_id, None)
            self.dirty.discard(stream_id)
        await self._maybe_stop()


@database_sync_to_async
def _peak_record(stream_id: str, count: int) -> None:
    from streams.services import stream_peak_viewers_record

    stream_peak_viewers_record(stream_id=stream_id, viewers=count)
