"""The transport within one process (no REDIS_URL): rooms through a queue per event loop, registries in memory."""

import asyncio
import collections
import heapq
import threading
import time
from dataclasses import dataclass, field

from .transport import Deliver, Subscribed, Transport, now_ms


@dataclass
class _Registry:
    """One stream's viewers: connections by expiry (a heap, stale entries skipped) and connections per viewer."""

    expiry: dict[str, int] = field(default_factory=dict)  # member -> expiry (ms)
    due: list[tuple[int, str]] = field(default_factory=list)  # heap of (expiry, member); may hold old expiries
    connections: collections.Counter = field(default_factory=collections.Counter)  # viewer -> members

    def expire(self, now: int) -> None:
        while self.due and self.due[0][0] <= now:
            expiry, member = heapq.heappop(self.due)
            if self.expiry.get(member) == expiry:
                self.remove(member)

    def put(self, member: str, expiry: int) -> None:
        if member not in self.expiry:
            self.connections[_viewer_of(member)] += 1
        self.expiry[member] = expiry
        heapq.heappush(self.due, (expiry, member))

    def remove(self, member: str) -> None:
        if self.expiry.pop(member, None) is None:
            return
        viewer = _viewer_of(member)
        self.connections[viewer] -= 1
        if self.connections[viewer] <= 0:
            del self.connections[viewer]


def _viewer_of(member: str) -> str:
    return member.split("|", 1)[0]


@dataclass(eq=False)
class _Link:
    """One event loop's inbox of frames; any thread may put into it through the loop."""

    loop: asyncio.AbstractEventLoop
    deliver: Deliver
    subscribed: Subscribed
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)


class LocalTransport(Transport):
    """Every event loop of this process (daphne's, test loops, none for Celery's eager tasks) sees the same rooms."""

    def __init__(self):
        self._links: list[_Link] = []
        # The viewer registry, by stream: counts and adds in O(log n), like Redis's.
        self._viewers: collections.defaultdict[str, _Registry] = collections.defaultdict(_Registry)
        self._counts: dict[str, tuple[float, int | None]] = {}  # stream -> (next slot, last count sent)
        self._windows: dict[str, collections.deque] = {}
        self._slow: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # Any thread ----------------------------------------------------------------------------------
    def room_publish(self, stream_id: str, text: str) -> None:
        for link in list(self._links):
            self._put(link, stream_id, text)

    def viewer_counts(self, stream_ids: list[str]) -> dict[str, int]:
        # Read only (another thread than the registry's event loop may ask): the viewers with a connection
        # not yet expired, without removing anything.
        now = now_ms()
        counts = {}
        for stream_id in stream_ids:
            registry = self._viewers.get(stream_id)
            members = list(registry.expiry.items()) if registry is not None else []
            counts[stream_id] = len({_viewer_of(member) for member, expiry in members if expiry > now})
        return counts

    @staticmethod
    def _put(link: _Link, stream_id: str, text: str) -> None:
        """Queue a frame on the link's loop, from any thread (a sync service in a worker thread, say)."""
        if link.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is link.loop:
            link.queue.put_nowait((stream_id, text))
        else:
            link.loop.call_soon_threadsafe(link.queue.put_nowait, (stream_id, text))

    def rate_limit_hit(self, *, key: str, limit: int, window_seconds: float) -> float:
        with self._lock:
            now = time.monotonic()
            hits = self._windows.setdefault(key, collections.deque())
            while hits and hits[0] <= now - window_seconds:
                hits.popleft()
            if len(hits) >= limit:
                return max(0.001, hits[0] + window_seconds - now)
            hits.append(now)
            return 0

    def slow_mode_hit(self, *, key: str, seconds: int) -> float:
        with self._lock:
            now = time.monotonic()
            until = self._slow.get(key, 0)
            if until > now:
                return until - now
            self._slow[key] = now + seconds
            return 0

    def lock_acquire(self, *, key: str, ttl_ms: int, wait_seconds: float) -> str | None:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        return key if lock.acquire(timeout=wait_seconds) else None

    def lock_release(self, *, key: str, token: str) -> None:
        lock = self._locks.get(key)
        if lock is not None and lock.locked():
            lock.release()

    # One event loop ------------------------------------------------------------------------------
    def link_open(self, loop: asyncio.AbstractEventLoop, *, deliver: Deliver, subscribed: Subscribed) -> _Link:
        link = _Link(loop=loop, deliver=deliver, subscribed=subscribed)
        self._links.append(link)
        return link

    async def link_close(self, link: _Link) -> None:
        if link in self._links:
            self._links.remove(link)

    async def room_read(self, link: _Link) -> None:
        while True:
            stream_id, text = await link.queue.get()
            await link.deliver(stream_id, text)

    async def room_subscribe(self, link: _Link, stream_id: str) -> None:
        # Every link receives every room's frames: the room is live at once.
        link.subscribed(stream_id)

    async def room_unsubscribe(self, link: _Link, stream_id: str) -> None:
        pass

    async def room_publish_async(self, link: _Link, stream_id: str, text: str) -> None:
        self.room_publish(stream_id, text)

    async def viewer_add(self, link: _Link, *, stream_id: str, member: str, limit: int, ttl_ms: int) -> int:
        now = now_ms()
        registry = self._viewers[stream_id]
        registry.expire(now)
        viewer = _viewer_of(member)
        if viewer not in registry.connections and limit and len(registry.connections) >= limit:
            return -1
        registry.put(member, now + ttl_ms)
        return len(registry.connections)

    async def viewer_remove(self, link: _Link, *, stream_id: str, member: str) -> None:
        registry = self._viewers.get(stream_id)
        if registry is not None:
            registry.remove(member)

    async def viewer_count(self, link: _Link, *, stream_id: str) -> int:
        registry = self._viewers.get(stream_id)
        if registry is None:
            return 0
        registry.expire(now_ms())
        return len(registry.connections)

    async def viewers_refresh(self, link: _Link, *, members: dict[str, set[str]], ttl_ms: int) -> None:
        expiry = now_ms() + ttl_ms
        for stream_id, stream_members in members.items():
            registry = self._viewers[stream_id]
            for member in stream_members:
                registry.put(member, expiry)

    async def count_slot_take(self, link: _Link, *, stream_id: str, interval_seconds: float) -> float:
        now = time.monotonic()
        next_slot, last = self._counts.get(stream_id, (0.0, None))
        if next_slot > now:
            return next_slot - now
        self._counts[stream_id] = (now + interval_seconds, last)
        return 0

    async def count_swap(self, link: _Link, *, stream_id: str, count: int) -> int | None:
        next_slot, last = self._counts.get(stream_id, (0.0, None))
        self._counts[stream_id] = (next_slot, count)
        return last
