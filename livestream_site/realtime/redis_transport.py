"""The transport across processes: Redis pub/sub for rooms, Lua scripts for the viewer registry and rate limits."""

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis
import redis.asyncio

from .transport import Deliver, Subscribed, Transport, now_ms

logger = logging.getLogger(__name__)

# Key names are shared with every other process of the platform (and read by tests): keep them.
ROOM_PREFIX = "rt:room:"
VIEWERS_PREFIX = "rt:viewers:"
VIEWER_CONNS_PREFIX = "rt:viewer-conns:"
RATE_LIMIT_PREFIX = "rt:rl:"
SLOW_MODE_PREFIX = "rt:slow:"
COUNT_SLOT_PREFIX = "rt:vc-slot:"
COUNT_LAST_PREFIX = "rt:vc-last:"
LOCK_PREFIX = "rt:lock:"

# Viewers of a stream, in two keys kept consistent by every script (no scan of the members, ever):
# - `rt:viewers:<stream>`, a sorted set of connections "<viewer>|<connection>" scored by expiry (ms);
#   a connection refreshes its score on every heartbeat, a dead process's connections expire on their own;
# - `rt:viewer-conns:<stream>`, a hash viewer -> its connections in the set (a user, or one anonymous
#   address), so the number of distinct viewers is HLEN: O(1).
# Adding, refreshing or removing a connection is O(log n); expiry removes each connection once, O(log n)
# apiece, only when it is due. The set and the hash expire together, 2x the TTL after the last write.
_VIEWERS_LIB_LUA = """
local function viewer_of(member)
  return string.match(member, '^([^|]+)|') or member
end
local function connection_gone(conns, member)
  local viewer = viewer_of(member)
  if redis.call('HINCRBY', conns, viewer, -1) <= 0 then redis.call('HDEL', conns, viewer) end
end
local function expire_due(viewers, conns, now)
  local due = redis.call('ZRANGEBYSCORE', viewers, '-inf', now)
  if #due > 0 then
    for _, member in ipairs(due) do connection_gone(conns, member) end
    redis.call('ZREMRANGEBYSCORE', viewers, '-inf', now)
  end
end
local function connection_put(viewers, conns, expiry, member)
  if redis.call('ZADD', viewers, expiry, member) == 1 then
    redis.call('HINCRBY', conns, viewer_of(member), 1)
  end
end
local function keep(viewers, conns, ttl)
  redis.call('PEXPIRE', viewers, ttl)
  redis.call('PEXPIRE', conns, ttl)
end
"""
# KEYS: viewers, conns. ARGV: now.
_VIEWER_COUNT_LUA = (
    _VIEWERS_LIB_LUA
    + """
expire_due(KEYS[1], KEYS[2], tonumber(ARGV[1]))
return redis.call('HLEN', KEYS[2])
"""
)
# Add a connection unless its viewer is new and the stream is full (then -1): one script, so two
# processes cannot both take the last seat. KEYS: viewers, conns. ARGV: now, expiry, member, viewer,
# limit, key ttl.
_VIEWER_ADD_LUA = (
    _VIEWERS_LIB_LUA
    + """
expire_due(KEYS[1], KEYS[2], tonumber(ARGV[1]))
local limit = tonumber(ARGV[5])
if limit > 0 and redis.call('HEXISTS', KEYS[2], ARGV[4]) == 0 and redis.call('HLEN', KEYS[2]) >= limit then
  return -1
end
connection_put(KEYS[1], KEYS[2], ARGV[2], ARGV[3])
keep(KEYS[1], KEYS[2], ARGV[6])
return redis.call('HLEN', KEYS[2])
"""
)
# KEYS: viewers, conns. ARGV: member.
_VIEWER_REMOVE_LUA = (
    _VIEWERS_LIB_LUA
    + """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then connection_gone(KEYS[2], ARGV[1]) end
return 0
"""
)
# Heartbeat: push back the expiry of some connections, and register again those Redis lost (a restart
# wipes the registry), so the count heals within one heartbeat (audit F2). KEYS: viewers, conns.
# ARGV: expiry, key ttl, members...
_VIEWERS_REFRESH_LUA = (
    _VIEWERS_LIB_LUA
    + """
for index = 3, #ARGV do connection_put(KEYS[1], KEYS[2], ARGV[1], ARGV[index]) end
keep(KEYS[1], KEYS[2], ARGV[2])
return 0
"""
)
# Redis connections of one event loop's link (its pub/sub included).
_LINK_CONNECTIONS = 64
# Members per refresh script: bounds how long one script holds Redis.
_REFRESH_CHUNK = 1000
# Release a lock only if it is still ours.
_LOCK_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
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


class _ViewerScripts:
    """The registry's scripts on one client: sent once (EVALSHA after), loaded again after a Redis restart."""

    def __init__(self, client: redis.asyncio.Redis):
        self.viewer_add = client.register_script(_VIEWER_ADD_LUA)
        self.viewer_remove = client.register_script(_VIEWER_REMOVE_LUA)
        self.viewer_count = client.register_script(_VIEWER_COUNT_LUA)
        self.viewers_refresh = client.register_script(_VIEWERS_REFRESH_LUA)


@dataclass
class _Link:
    """One event loop's connection and its room subscriptions."""

    client: redis.asyncio.Redis
    pubsub: redis.asyncio.client.PubSub
    deliver: Deliver
    subscribed: Subscribed
    # Set by the first subscription: before it, redis-py's pub/sub has no connection to read from
    # (reading then raised "pubsub connection not set", logged as an error, and slept half a second).
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    scripts: _ViewerScripts = field(init=False)

    def __post_init__(self):
        self.scripts = _ViewerScripts(self.client)


def _viewer_keys(stream_id: str) -> list[str]:
    return [VIEWERS_PREFIX + stream_id, VIEWER_CONNS_PREFIX + stream_id]


class RedisTransport(Transport):
    """Rooms, viewers and limits shared by every process that uses the same Redis."""

    def __init__(self, url: str):
        self.url = url
        self._sync_client: redis.Redis | None = None
        self._sync_lock = threading.Lock()

    def sync_client(self) -> redis.Redis:
        """The process's blocking client (thread-safe: a connection pool), made on first use."""
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = redis.Redis.from_url(self.url)
            return self._sync_client

    # Any thread ----------------------------------------------------------------------------------
    def room_publish(self, stream_id: str, text: str) -> None:
        self.sync_client().publish(ROOM_PREFIX + stream_id, text)

    def rate_limit_hit(self, *, key: str, limit: int, window_seconds: float) -> float:
        window_ms = int(window_seconds * 1000)
        wait_ms = self.sync_client().eval(
            _RATE_LIMIT_LUA, 1, RATE_LIMIT_PREFIX + key, now_ms(), limit, window_ms, uuid.uuid4().hex
        )
        return int(wait_ms) / 1000

    def slow_mode_hit(self, *, key: str, seconds: int) -> float:
        client = self.sync_client()
        full_key = SLOW_MODE_PREFIX + key
        if client.set(full_key, 1, nx=True, px=seconds * 1000):
            return 0
        return max(int(client.pttl(full_key)), 1) / 1000

    def viewer_counts(self, stream_ids: list[str]) -> dict[str, int]:
        if not stream_ids:
            return {}
        pipe = self.sync_client().pipeline(transaction=False)
        now = now_ms()
        for stream_id in stream_ids:
            pipe.eval(_VIEWER_COUNT_LUA, 2, *_viewer_keys(stream_id), now)
        return {stream_id: int(count) for stream_id, count in zip(stream_ids, pipe.execute(), strict=True)}

    def lock_acquire(self, *, key: str, ttl_ms: int, wait_seconds: float) -> str | None:
        client = self.sync_client()
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait_seconds
        while not client.set(LOCK_PREFIX + key, token, nx=True, px=ttl_ms):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.0005)
        return token

    def lock_release(self, *, key: str, token: str) -> None:
        self.sync_client().eval(_LOCK_RELEASE_LUA, 1, LOCK_PREFIX + key, token)

    # One event loop ------------------------------------------------------------------------------
    def link_open(self, loop: asyncio.AbstractEventLoop, *, deliver: Deliver, subscribed: Subscribed) -> _Link:
        # Joins in a storm run many commands at once: past the pool's size they wait for a connection
        # (the default pool refused them with MaxConnectionsError, and the joins failed).
        pool = redis.asyncio.BlockingConnectionPool.from_url(self.url, max_connections=_LINK_CONNECTIONS, timeout=20)
        client = redis.asyncio.Redis.from_pool(pool)
        return _Link(client=client, pubsub=client.pubsub(), deliver=deliver, subscribed=subscribed)

    async def link_close(self, link: _Link) -> None:
        await link.pubsub.aclose()
        await link.client.aclose()

    async def room_read(self, link: _Link) -> None:
        await link.connected.wait()
        while True:
            try:
                message = await link.pubsub.get_message(timeout=1.0)
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
                await link.deliver(stream_id, message["data"].decode())
            elif message["type"] == "subscribe":
                link.subscribed(stream_id)

    async def room_subscribe(self, link: _Link, stream_id: str) -> None:
        await link.pubsub.subscribe(ROOM_PREFIX + stream_id)
        link.connected.set()
        logger.debug("subscribed to room %s", stream_id)

    async def room_unsubscribe(self, link: _Link, stream_id: str) -> None:
        await link.pubsub.unsubscribe(ROOM_PREFIX + stream_id)

    async def room_publish_async(self, link: _Link, stream_id: str, text: str) -> None:
        await link.client.publish(ROOM_PREFIX + stream_id, text)

    async def viewer_add(self, link: _Link, *, stream_id: str, member: str, limit: int, ttl_ms: int) -> int:
        now = now_ms()
        viewer = member.split("|", 1)[0]
        args = [now, now + ttl_ms, member, viewer, limit, ttl_ms * 2]
        return int(await link.scripts.viewer_add(keys=_viewer_keys(stream_id), args=args))

    async def viewer_remove(self, link: _Link, *, stream_id: str, member: str) -> None:
        await link.scripts.viewer_remove(keys=_viewer_keys(stream_id), args=[member])

    async def viewer_count(self, link: _Link, *, stream_id: str) -> int:
        return int(await link.scripts.viewer_count(keys=_viewer_keys(stream_id), args=[now_ms()]))

    async def viewers_refresh(self, link: _Link, *, members: dict[str, set[str]], ttl_ms: int) -> None:
        expiry = now_ms() + ttl_ms
        # Read synchronously (no await until the pipeline runs): a viewer removed meanwhile is not revived.
        calls = []
        for stream_id, stream_members in members.items():
            ordered = list(stream_members)
            for start in range(0, len(ordered), _REFRESH_CHUNK):
                calls.append((stream_id, [expiry, ttl_ms * 2, *ordered[start : start + _REFRESH_CHUNK]]))
        if not calls:
            return
        async with link.client.pipeline(transaction=False) as pipe:
            for stream_id, args in calls:
                await link.scripts.viewers_refresh(keys=_viewer_keys(stream_id), args=args, client=pipe)
            await pipe.execute()

    async def count_slot_take(self, link: _Link, *, stream_id: str, interval_seconds: float) -> float:
        key = COUNT_SLOT_PREFIX + stream_id
        if await link.client.set(key, 1, nx=True, px=max(1, int(interval_seconds * 1000))):
            return 0
        return max(int(await link.client.pttl(key)), 1) / 1000

    async def count_swap(self, link: _Link, *, stream_id: str, count: int) -> int | None:
        previous = await link.client.set(COUNT_LAST_PREFIX + stream_id, count, ex=3600, get=True)
        return None if previous is None else int(previous)
